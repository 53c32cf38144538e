package sqlstore

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// open makes a store in a fresh directory, closed when the test ends.
func open(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// call is one call's statements and key-value writes.
type call struct {
	sql []string
	put map[string]string
}

// lead runs c in a session on s, as the leader does, and returns the log
// and each statement's rows; the session is rolled back.
func lead(t testing.TB, s *Store, object string, env Env, c call) ([]Statement, [][][]any) {
	t.Helper()
	sess, err := s.Begin(object, env)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	var seen [][][]any
	for _, q := range c.sql {
		res, err := sess.Exec(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		seen = append(seen, res.Rows)
	}
	for k, v := range c.put {
		if err := sess.Put(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	return sess.Log(), seen
}

// commit ends sess as the leader does when its call returns: its log is
// taken, it is rolled back, and the log is applied at index.
func commit(t testing.TB, s *Store, sess *Session, object string, index uint64, env Env) {
	t.Helper()
	log := sess.Log()
	if err := sess.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(object, index, env, log); err != nil {
		t.Fatalf("apply of %d: %v", index, err)
	}
}

func digest(t testing.TB, s *Store, object string) [32]byte {
	t.Helper()
	d, err := s.Digest(object)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// query reads with a session that is rolled back.
func query(t testing.TB, s *Store, object, q string, args ...any) [][]any {
	t.Helper()
	sess, err := s.Begin(object, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

var nondeterministic = []call{
	{sql: []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, r, b, now, ts DEFAULT CURRENT_TIMESTAMP, d DEFAULT (date()))",
		"CREATE TABLE u (x)",
		"INSERT INTO t (r, b, now) VALUES (random(), randomblob(16), datetime('now')) RETURNING *",
		"INSERT INTO t (r, b, now) VALUES (random(), randomblob(16), julianday('now')), (random(), NULL, unixepoch()) RETURNING *",
		"INSERT INTO u VALUES (random()), (strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime')) RETURNING rowid, x",
	}},
	{sql: []string{
		"SELECT random(), randomblob(4)",
		"DELETE FROM t WHERE id = 3",
		"INSERT INTO t (r, b, now) VALUES (random(), randomblob(4), CURRENT_TIME) RETURNING *",
		"INSERT INTO u SELECT random() FROM t RETURNING rowid, x",
	}, put: map[string]string{"k": "v"}},
}

// TestReplicasAgree: what a call saw on the leader is what every replica
// stores — random(), randomblob(), 'now', CURRENT_TIMESTAMP, rowids and
// AUTOINCREMENT included — and two replicas end with the same digest.
func TestReplicasAgree(t *testing.T) {
	leader, follower := open(t, Config{}), open(t, Config{})
	for i, c := range nondeterministic {
		env := Env{Seed: uint64(1000 + i), Now: time.Date(2026, 12, 7, 11, 0, i, 123e6, time.UTC)}
		log, seen := lead(t, leader, "obj", env, c)
		for _, s := range []*Store{leader, follower} {
			if err := s.Apply("obj", uint64(i+1), env, log); err != nil {
				t.Fatalf("apply call %d: %v", i, err)
			}
		}
		// The rows the leader's call saw (RETURNING) are the rows stored.
		for j, q := range c.sql {
			if !strings.Contains(q, "RETURNING") {
				continue
			}
			for _, row := range seen[j] {
				table := "t"
				if strings.Contains(q, "INTO u") {
					table = "u"
				}
				got := query(t, follower, "obj", "SELECT "+map[string]string{"t": "*", "u": "rowid, x"}[table]+" FROM "+table+" WHERE rowid = ?", row[0])
				if len(got) != 1 || !reflect.DeepEqual(got[0], row) {
					t.Errorf("call %d, %q: the leader saw %v, the replica stores %v", i, q, row, got)
				}
			}
		}
	}
	if a, b := digest(t, leader, "obj"), digest(t, follower, "obj"); a != b {
		t.Fatalf("digests differ: %x vs %x", a, b)
	}
	rows := query(t, follower, "obj", "SELECT ts, d, now FROM t WHERE id = 1")
	want := []any{"2026-12-07 11:00:00", "2026-12-07", "2026-12-07 11:00:00"}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("CURRENT_TIMESTAMP, date() and datetime('now') stored %v, want the call's time %v", rows[0], want)
	}
	if seq := query(t, follower, "obj", "SELECT seq FROM sqlite_sequence WHERE name = 't'"); seq[0][0] != int64(4) {
		t.Errorf("AUTOINCREMENT sequence %v, want 4", seq)
	}
}

// TestRandomDependsOnSeed: the same log with another seed stores other
// values — random() is fed by the command, not constant.
func TestRandomDependsOnSeed(t *testing.T) {
	a, b := open(t, Config{}), open(t, Config{})
	log, _ := lead(t, a, "o", Env{Seed: 1}, call{sql: []string{"CREATE TABLE t (r)", "INSERT INTO t VALUES (random())"}})
	if err := a.Apply("o", 0, Env{Seed: 1}, log); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply("o", 0, Env{Seed: 2}, log); err != nil {
		t.Fatal(err)
	}
	if digest(t, a, "o") == digest(t, b, "o") {
		t.Fatal("two seeds gave the same random()")
	}
}

// TestRollbackLeavesNothing: a session's writes, SQL and key-value, are
// gone after Rollback, and its log still replays them.
func TestRollbackLeavesNothing(t *testing.T) {
	s := open(t, Config{})
	before := digest(t, s, "o")
	log, _ := lead(t, s, "o", Env{Seed: 7}, call{
		sql: []string{"CREATE TABLE t (v)", "INSERT INTO t VALUES (1), (2)"},
		put: map[string]string{"a": "1"},
	})
	if after := digest(t, s, "o"); after != before {
		t.Fatal("rollback left changes behind")
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM sqlite_schema WHERE name = 't'"); rows[0][0] != int64(0) {
		t.Fatal("table t survived the rollback")
	}
	if len(log) != 3 {
		t.Fatalf("log has %d statements, want 3 (two SQL writes, one put): %+v", len(log), log)
	}
	if err := s.Apply("o", 1, Env{Seed: 7}, log); err != nil {
		t.Fatal(err)
	}
	if rows := query(t, s, "o", "SELECT sum(v) FROM t"); rows[0][0] != int64(3) {
		t.Fatalf("applied log gave sum %v, want 3", rows[0][0])
	}
}

// TestFailedStatementChangesNothing: a write that fails midway (OR FAIL
// keeps SQLite's partial work) is undone and not logged; the session goes
// on, and a replica ends where the leader's call did.
func TestFailedStatementChangesNothing(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	for _, q := range []string{"CREATE TABLE t (v UNIQUE)", "INSERT INTO t VALUES (2)"} {
		if _, err := sess.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sess.Exec("INSERT OR FAIL INTO t VALUES (1), (2), (3)")
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "UNIQUE constraint failed") {
		t.Fatalf("want SQLite's constraint error, got %v", err)
	}
	res, err := sess.Exec("SELECT v FROM t ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(2)}}) {
		t.Fatalf("after the failed write the session sees %v, want only 2", res.Rows)
	}
	if n := len(sess.Log()); n != 2 {
		t.Fatalf("log has %d statements, want the 2 that took effect", n)
	}
}

// TestApplyIsAtomic: a log whose statement fails applies nothing, and
// says which statement diverged.
func TestApplyIsAtomic(t *testing.T) {
	s := open(t, Config{})
	log := []Statement{
		{Op: OpSQL, SQL: "CREATE TABLE t (v)"},
		{Op: OpPut, Args: []any{"k", []byte("v")}},
		{Op: OpSQL, SQL: "INSERT INTO nope VALUES (1)"},
	}
	before := digest(t, s, "o")
	err := s.Apply("o", 5, Env{}, log)
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "statement 2") {
		t.Fatalf("want ErrDiverged naming statement 2, got %v", err)
	}
	if digest(t, s, "o") != before {
		t.Fatal("a failed apply left changes")
	}
	if idx, _ := s.Applied("o"); idx != 0 {
		t.Fatalf("a failed apply stored index %d", idx)
	}
	// A forged log does not get past the authorizer either.
	err = s.Apply("o", 6, Env{}, []Statement{{Op: OpSQL, SQL: "DELETE FROM _cf_KV"}})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("replayed statement on _cf_KV: want ErrRefused, got %v", err)
	}
}

// TestApplySkipsWhatIsOnDisk: replaying a Raft log over the files skips
// the commands they already hold, so a restart replays only the rest.
func TestApplySkipsWhatIsOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir})
	inc := []Statement{{Op: OpSQL, SQL: "INSERT INTO c VALUES (1)"}}
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE c (v)"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply("o", 2, Env{}, inc); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Config{Dir: dir})
	for idx := uint64(1); idx <= 3; idx++ { // the whole log again, and one more
		log := inc
		if idx == 1 {
			log = []Statement{{Op: OpSQL, SQL: "CREATE TABLE c (v)"}}
		}
		if err := s.Apply("o", idx, Env{}, log); err != nil {
			t.Fatalf("replay %d: %v", idx, err)
		}
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM c"); rows[0][0] != int64(2) {
		t.Fatalf("after replay %v rows, want 2", rows[0][0])
	}
	if idx, err := s.Applied("o"); err != nil || idx != 3 {
		t.Fatalf("applied index %d, %v; want 3", idx, err)
	}
}

// TestRestrictions: each of Cloudflare's restrictions refuses the
// statement with an error that says which, and nothing of it runs.
func TestRestrictions(t *testing.T) {
	s := open(t, Config{})
	setup := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}}
	if err := s.Apply("o", 0, Env{}, setup); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sql  string
		args []any
		kind error
		says string
	}{
		{"ATTACH 'other.db' AS o2", nil, ErrRefused, "ATTACH"},
		{"DETACH main", nil, ErrRefused, "DETACH"},
		{"BEGIN", nil, ErrRefused, "transactionSync"},
		{"COMMIT", nil, ErrRefused, "COMMIT statements are not allowed"},
		{"ROLLBACK", nil, ErrRefused, "ROLLBACK statements are not allowed"},
		{"SAVEPOINT s", nil, ErrRefused, "SAVEPOINT"},
		{"RELEASE s", nil, ErrRefused, "SAVEPOINT"},
		{"PRAGMA journal_mode = DELETE", nil, ErrRefused, "PRAGMA journal_mode is not allowed"},
		{"PRAGMA case_sensitive_like = 1", nil, ErrRefused, "PRAGMA case_sensitive_like is not allowed"},
		{"SELECT * FROM _cf_KV", nil, ErrRefused, "_cf_"},
		{"DELETE FROM _CF_kv", nil, ErrRefused, "_cf_"},
		{"CREATE TABLE _cf_mine (x)", nil, ErrRefused, "_cf_"},
		{"CREATE INDEX i ON _cf_KV (value)", nil, ErrRefused, "_cf_"},
		{"DROP TABLE _cf_META", nil, ErrRefused, "_cf_"},
		{"CREATE TEMP TABLE x (a)", nil, ErrRefused, "replicated"},
		{"SELECT ?1", []any{1, 2}, nil, "Wrong number of parameter bindings"},
		{"SELECT " + strings.Repeat("?,", 100) + "?", make([]any, 101), ErrLimit, "too many SQL variables"},
		{"CREATE TABLE wide (" + columns(101) + ")", nil, ErrLimit, "too many columns"},
		{"INSERT INTO t VALUES (zeroblob(2000001))", nil, ErrLimit, "too big"},
		{"SELECT '" + strings.Repeat("x", 100_000) + "'", nil, ErrLimit, "limit of 100000 bytes"},
	}
	for _, c := range cases {
		t.Run(c.sql[:min(len(c.sql), 40)], func(t *testing.T) {
			sess, err := s.Begin("o", Env{})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Rollback()
			_, err = sess.Exec(c.sql, c.args...)
			if err == nil {
				t.Fatal("ran; want it refused")
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %v does not wrap %v", err, c.kind)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
			if len(sess.Log()) != 0 {
				t.Errorf("a refused statement was logged: %+v", sess.Log())
			}
		})
	}
}

func columns(n int) string {
	c := make([]string, n)
	for i := range c {
		c[i] = fmt.Sprintf("c%d", i)
	}
	return strings.Join(c, ", ")
}

// TestAllowedStatements: what Cloudflare allows runs: introspection
// PRAGMAs (on _cf_KV too), the foreign-key switches, 100 parameters, 100
// columns.
func TestAllowedStatements(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	for _, q := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
		"CREATE INDEX tv ON t (v)",
		"PRAGMA table_info(t)", "PRAGMA table_list", "PRAGMA index_list(t)", "PRAGMA index_info(tv)",
		"PRAGMA table_xinfo(_cf_KV)", "PRAGMA foreign_keys", "PRAGMA defer_foreign_keys = ON",
		"PRAGMA foreign_key_list(t)", "PRAGMA quick_check",
		"CREATE TABLE wide (" + columns(100) + ")",
		"SELECT name FROM sqlite_schema",
	} {
		if _, err := sess.Exec(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, err := sess.Exec("SELECT "+strings.Repeat("?,", 99)+"?", make([]any, 100)...); err != nil {
		t.Errorf("100 parameters: %v", err)
	}
	res, err := sess.Exec("PRAGMA table_info(t)")
	if err != nil || len(res.Rows) != 2 || res.Rows[1][1] != "v" {
		t.Errorf("table_info(t) = %+v, %v", res, err)
	}
}

// TestSizeLimit: past the database size limit writes fail naming the
// limit; reads go on; a replica with no room problem applies the log.
func TestSizeLimit(t *testing.T) {
	const limit = 64 << 10
	s := open(t, Config{Limits: Limits{DatabaseBytes: limit}})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if _, err := sess.Exec("CREATE TABLE t (b)"); err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		_, full = sess.Exec("INSERT INTO t VALUES (zeroblob(4000))")
	}
	if !errors.Is(full, ErrLimit) || !strings.Contains(full.Error(), fmt.Sprintf("size limit of %d bytes", limit)) {
		t.Fatalf("want a size-limit error naming %d bytes, got %v", limit, full)
	}
	res, err := sess.Exec("SELECT count(*) FROM t")
	if err != nil {
		t.Fatalf("a read after the limit: %v", err)
	}
	n := res.Rows[0][0].(int64)
	if n == 0 {
		t.Fatal("no insert fitted before the limit: the test proves nothing")
	}
	if size, _ := sess.DatabaseSize(); size > limit {
		t.Errorf("database is %d bytes, over the %d limit", size, limit)
	}
	log := sess.Log()
	if int64(len(log)) != n+1 {
		t.Errorf("log has %d statements, want the table and %d inserts", len(log), n)
	}
	if err := open(t, Config{}).Apply("o", 1, Env{}, log); err != nil {
		t.Fatalf("a replica applying the log: %v", err)
	}
}

// TestReadSession: a read-only session reads and refuses every kind of
// write with an error that says so.
func TestReadSession(t *testing.T) {
	s := open(t, Config{})
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}, {Op: OpSQL, SQL: "INSERT INTO t VALUES (1)"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRead("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.Exec("SELECT v FROM t"); err != nil || res.Rows[0][0] != int64(1) {
		t.Fatalf("read: %+v, %v", res, err)
	}
	for name, write := range map[string]func() error{
		"insert":    func() error { _, err := r.Exec("INSERT INTO t VALUES (2)"); return err },
		"create":    func() error { _, err := r.Exec("CREATE TABLE u (x)"); return err },
		"put":       func() error { return r.Put("k", nil) },
		"deleteAll": func() error { _, err := r.DeleteAll(); return err },
	} {
		if err := write(); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "only reads") {
			t.Errorf("%s in a read session: %v", name, err)
		}
	}
	if err := r.Rollback(); err != nil {
		t.Fatal(err)
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM t"); rows[0][0] != int64(1) {
		t.Fatal("a read session wrote")
	}
}

// TestApplyTakesCodecIntegers: a log decoded by a codec that shrinks
// integers (msgpack gives int8, uint16…) applies as the session's did.
func TestApplyTakesCodecIntegers(t *testing.T) {
	s := open(t, Config{})
	log := []Statement{
		{Op: OpSQL, SQL: "CREATE TABLE t (a, b, c, d)"},
		{Op: OpSQL, SQL: "INSERT INTO t VALUES (?, ?, ?, ?)", Args: []any{int8(-1), uint16(300), uint64(1 << 40), float32(0.5)}},
	}
	if err := s.Apply("o", 1, Env{}, log); err != nil {
		t.Fatal(err)
	}
	want := []any{int64(-1), int64(300), int64(1 << 40), 0.5}
	if rows := query(t, s, "o", "SELECT * FROM t"); !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("stored %v, want %v", rows[0], want)
	}
}
