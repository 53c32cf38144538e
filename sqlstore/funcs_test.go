package sqlstore

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDateFunctionsUseTheCallsTime: every way SQL reads the clock gives
// the command's time, in UTC, and other date arithmetic is SQLite's.
func TestDateFunctionsUseTheCallsTime(t *testing.T) {
	s := open(t, Config{})
	now := time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.FixedZone("far", 9*3600))
	sess, err := s.Begin("o", Env{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	cases := []struct {
		expr string
		want any
	}{
		{"datetime('now')", "2026-03-03 20:06:07"},
		{"datetime('NOW', 'subsec')", "2026-03-03 20:06:07.890"},
		{"datetime()", "2026-03-03 20:06:07"},
		{"date()", "2026-03-03"},
		{"time('now', '+1 hour')", "21:06:07"},
		{"datetime('now', 'localtime')", "2026-03-03 20:06:07"},
		{"datetime('now', 'utc')", "2026-03-03 20:06:07"},
		{"datetime('2020-01-01 00:00:00', 'localtime')", "2020-01-01 00:00:00"},
		{"unixepoch()", now.Unix()},
		{"unixepoch('now')", now.Unix()},
		{"strftime('%Y/%m/%d %H:%M:%f')", "2026/03/03 20:06:07.890"},
		{"strftime('%s', 'now')", "1772568367"},
		{"julianday('now') = julianday('2026-03-03 20:06:07.890')", int64(1)},
		{"timediff('now', '2026-03-03 00:00:00')", "+0000-00-00 20:06:07.890"},
		{"CURRENT_TIMESTAMP", "2026-03-03 20:06:07"},
		{"CURRENT_DATE", "2026-03-03"},
		{"CURRENT_TIME", "20:06:07"},
		{"datetime('now', 'unixepoch')", nil}, // as SQLite: unixepoch needs a number
		{"date('2024-02-28', '+1 day')", "2024-02-29"},
		{"datetime(1700000000, 'unixepoch')", "2023-11-14 22:13:20"},
		{"typeof(random())", "integer"},
		{"length(randomblob(0))", int64(1)},
		{"length(randomblob(33))", int64(33)},
	}
	for _, c := range cases {
		res, err := sess.Exec("SELECT " + c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := res.Rows[0][0]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}
}

// TestDateFunctionsStayOutOfIndexes: the overrides are not deterministic
// functions, so, as with 'now' in SQLite, a schema cannot bake a time
// into an index or a CHECK, where replicas' clocks would part.
func TestDateFunctionsStayOutOfIndexes(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if _, err := sess.Exec("CREATE TABLE t (a)"); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("CREATE INDEX i ON t (datetime('now'))"); err == nil {
		t.Error("an index on datetime('now'): accepted")
	}
	if _, err := sess.Exec("CREATE TABLE c (a CHECK (a < unixepoch()))"); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("INSERT INTO c VALUES (1)"); err == nil {
		t.Error("a CHECK calling unixepoch(): accepted")
	}
}

// TestExecMultipleStatements: a query of several statements runs them
// all, returns the last one's rows, logs each write, and binds its
// arguments to the one statement that has parameters.
func TestExecMultipleStatements(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec("CREATE TABLE t (v); INSERT INTO t VALUES (1); INSERT INTO t VALUES (41); SELECT sum(v) FROM t WHERE v < ?; -- the sum", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(42)}}) || res.RowsWritten != 2 {
		t.Fatalf("got %+v; want sum 42 and 2 rows written", res)
	}
	if n := len(sess.Log()); n != 3 {
		t.Fatalf("log has %d statements, want 3", n)
	}
	if _, err := sess.Exec("SELECT ?; SELECT ?", 1, 2); err == nil {
		t.Error("bindings for two statements: accepted")
	}
	// As on Cloudflare, the bindings are the last statement's: an
	// earlier one with parameters is refused before it runs.
	_, err = sess.Exec("INSERT INTO t VALUES (?); SELECT 1", 5)
	if err == nil || !strings.Contains(err.Error(), "only the last statement can have parameters") {
		t.Errorf("parameters in a statement before the last: %v", err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES (7); SELECT 1", 5); err == nil || !strings.Contains(err.Error(), "Wrong number of parameter bindings") {
		t.Errorf("a binding for a last statement without parameters: %v", err)
	}
	if res, err := sess.Exec("SELECT count(*) FROM t WHERE v IN (5, 7)"); err != nil || res.Rows[0][0] != int64(1) {
		t.Errorf("rows of the refused queries: %v, %v; want only the 7 of the statement before the last", res, err)
	}
	if _, err := sess.Exec("SELECT 1", 1); err == nil {
		t.Error("a binding for a query without parameters: accepted")
	}
	if _, err := sess.Exec("SELECT ?", struct{}{}); err == nil {
		t.Error("a struct binding: accepted")
	}
	_ = sess.Rollback()
	if _, err := sess.Exec("SELECT 1"); err == nil {
		t.Error("Exec after Rollback: accepted")
	}
}

// TestMultipleStatementsReplay: each statement of a query of several is
// logged as itself, so a replica re-runs each once.
func TestMultipleStatementsReplay(t *testing.T) {
	leader, replica := open(t, Config{}), open(t, Config{})
	log, _ := lead(t, leader, "o", Env{}, call{sql: []string{
		"CREATE TABLE t (v);INSERT INTO t VALUES (1), (2);\n  INSERT INTO t SELECT v * 10 FROM t; ",
	}})
	if len(log) != 3 || log[1].SQL != "INSERT INTO t VALUES (1), (2);" {
		t.Fatalf("log %+v: want 3 statements, each its own text", log)
	}
	for _, s := range []*Store{leader, replica} {
		if err := s.Apply("o", 1, Env{}, log); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(t, replica, "o", "SELECT sum(v) FROM t"); got[0][0] != int64(33) {
		t.Fatalf("replica's sum %v, want 33", got)
	}
	if digest(t, leader, "o") != digest(t, replica, "o") {
		t.Fatal("digests differ")
	}
}

// TestBindingOverRowLimit: a binding over the size limit is refused as
// a limit, with the reason, like a value a statement builds.
func TestBindingOverRowLimit(t *testing.T) {
	s := open(t, Config{Limits: Limits{RowBytes: 1000}})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	_, err = sess.Exec("SELECT ?", strings.Repeat("x", 1001))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "limited in size") || !strings.Contains(err.Error(), "SQLITE_TOOBIG") {
		t.Fatalf("error %v; want ErrLimit saying why", err)
	}
}

// TestDatabaseSizeShrinks: the size a session reports counts the pages
// in use, as Cloudflare's databaseSize does: deleting rows lowers it.
func TestDatabaseSizeShrinks(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	size := func() int64 {
		t.Helper()
		n, err := sess.DatabaseSize()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := sess.Exec("CREATE TABLE t (b)"); err != nil {
		t.Fatal(err)
	}
	empty := size()
	if _, err := sess.Exec("INSERT INTO t VALUES (zeroblob(200000))"); err != nil {
		t.Fatal(err)
	}
	full := size()
	if _, err := sess.Exec("DELETE FROM t"); err != nil {
		t.Fatal(err)
	}
	if after := size(); full < empty+150000 || after > empty {
		t.Fatalf("sizes: empty %d, with 200 kB %d, after the delete %d; want the delete to give the space back", empty, full, after)
	}
}
