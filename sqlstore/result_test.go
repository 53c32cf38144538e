package sqlstore

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// resultLimitStore is a store whose statements' results may hold 10,000
// bytes, with object "o" holding table t of 100 rows of 200 bytes (20,000
// in all) and id 1 to 100.
func resultLimitStore(t *testing.T) *Store {
	t.Helper()
	s := open(t, Config{Limits: Limits{ResultBytes: 10_000}})
	log := []Statement{
		{Op: OpSQL, SQL: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER DEFAULT 0)"},
		{Op: OpSQL, SQL: "INSERT INTO t (id, v) SELECT value, printf('%.200c', 'x') FROM generate_series(1, 100)"},
	}
	if err := s.Apply("o", 1, Env{}, log); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantResultLimit fails t unless err is the result size limit's error,
// naming the limit as SQLite would.
func wantResultLimit(t *testing.T, err error) {
	t.Helper()
	var se *Error
	if !errors.Is(err, ErrLimit) || !errors.As(err, &se) ||
		!strings.Contains(err.Error(), "result size limit of 10000 bytes") || !strings.Contains(err.Error(), "SQLITE_TOOBIG") {
		t.Fatalf("error %v; want the result size limit, named", err)
	}
}

// TestResultLimit: a SELECT whose rows hold more than the limit fails
// with an error naming it, and the session goes on; the same rows read
// in pages come back whole.
func TestResultLimit(t *testing.T) {
	s := resultLimitStore(t)
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	_, err = sess.Exec("SELECT * FROM t")
	wantResultLimit(t, err)
	var got int
	for page := 0; page < 4; page++ {
		res, err := sess.Exec("SELECT v FROM t ORDER BY id LIMIT 25 OFFSET ?", page*25)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		got += len(res.Rows)
	}
	if got != 100 {
		t.Fatalf("pages gave %d rows, want 100", got)
	}
}

// TestResultLimitUndoesWrite: a write whose RETURNING rows are over the
// limit fails and leaves nothing, neither in the session nor in its log,
// whether it is the session's first write or a later one.
func TestResultLimitUndoesWrite(t *testing.T) {
	s := resultLimitStore(t)
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	const update = "UPDATE t SET n = n + 1 RETURNING v"
	_, err = sess.Exec(update)
	wantResultLimit(t, err)
	if _, err := sess.Exec("UPDATE t SET n = 10 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = sess.Exec(update)
	wantResultLimit(t, err)
	res, err := sess.Exec("SELECT sum(n) FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(10)}}) {
		t.Fatalf("after the failed writes the session sees sum(n) = %v, want 10", res.Rows)
	}
	if log := sess.Log(); len(log) != 1 || log[0].SQL != "UPDATE t SET n = 10 WHERE id = 1" {
		t.Fatalf("log %v; want only the write that took effect", log)
	}
}

// TestApplyKeepsNoResult: replay does not hold the rows of a logged
// write's RETURNING, so a replica applies a write whose result is over
// its own limit (the leader's may be larger).
func TestApplyKeepsNoResult(t *testing.T) {
	s := resultLimitStore(t)
	err := s.Apply("o", 2, Env{}, []Statement{{Op: OpSQL, SQL: "UPDATE t SET n = n + 1 RETURNING v"}})
	if err != nil {
		t.Fatal(err)
	}
	if rows := query(t, s, "o", "SELECT sum(n) FROM t"); !reflect.DeepEqual(rows, [][]any{{int64(100)}}) {
		t.Fatalf("sum(n) = %v after apply, want 100", rows)
	}
}

// TestListResultLimit: a key-value list whose entries hold more than the
// limit fails naming it; a bounded one goes on.
func TestListResultLimit(t *testing.T) {
	s := resultLimitStore(t)
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	for i := range 60 {
		if err := sess.Put(fmt.Sprintf("k%02d", i), []byte(strings.Repeat("v", 200))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sess.List(ListOptions{})
	wantResultLimit(t, err)
	got, err := sess.List(ListOptions{Limit: 10})
	if err != nil || len(got) != 10 {
		t.Fatalf("list of 10: %d entries, %v", len(got), err)
	}
}

// TestQueryResultLimit: an operator's query stops at its own limits, or
// before the row that would take its answer over the store's result
// limit, and says there is more; a first row over that limit alone fails
// it, naming the limit.
func TestQueryResultLimit(t *testing.T) {
	s := resultLimitStore(t)
	sess, err := s.BeginRead("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, more, err := sess.Query("SELECT v FROM t", nil, QueryLimits{Rows: 1000, Bytes: 4000})
	if err != nil || !more || len(res.Rows) != 20 {
		t.Fatalf("query under its own limits: %d rows, more %v, %v; want 20 and more", len(res.Rows), more, err)
	}
	res, more, err = sess.Query("SELECT v FROM t", nil, QueryLimits{Rows: 1000, Bytes: 1 << 20})
	if err != nil || !more || len(res.Rows) != 50 {
		t.Fatalf("query over the result limit: %d rows, more %v, %v; want 50 and more", len(res.Rows), more, err)
	}
	_, _, err = sess.Query("SELECT randomblob(6000), randomblob(6000)", nil, QueryLimits{Rows: 1000, Bytes: 4000})
	wantResultLimit(t, err)
}
