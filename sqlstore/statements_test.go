package sqlstore

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// traceStatements records the SQL each statement run on object's open
// handle starts with, until the test ends.
func traceStatements(t *testing.T, s *Store, object string) *[]string {
	t.Helper()
	h, err := s.acquire(object)
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(h)
	var got []string
	err = h.conn.Trace(sqlite3.TRACE_STMT, func(_ sqlite3.TraceEvent, _, sql any) error {
		if q, ok := sql.(string); ok {
			f := append(strings.Fields(q), "")
			got = append(got, f[0]+" "+f[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &got
}

// TestIncrementStatements: a counter increment, as the leader's session
// and then Apply run it, is the UPDATE, its transactions and the applied
// index, nothing more: no size limit set again while unchanged, no
// savepoint around a transaction's only write, no read of an applied
// index the handle knows.
func TestIncrementStatements(t *testing.T) {
	s := open(t, Config{})
	setup := []Statement{{Op: OpSQL, SQL: "CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER)"}, {Op: OpSQL, SQL: "INSERT INTO c VALUES (1, 0)"}}
	if err := s.Apply("o", 1, Env{}, setup); err != nil {
		t.Fatal(err)
	}
	increment := func(index uint64) {
		sess, err := s.Begin("o", Env{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Exec("UPDATE c SET v = v + 1 WHERE id = 1 RETURNING v"); err != nil {
			t.Fatal(err)
		}
		log := sess.Log()
		if err := sess.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply("o", index, Env{}, log); err != nil {
			t.Fatal(err)
		}
	}
	increment(2) // sets the size limit once
	got := traceStatements(t, s, "o")
	increment(3)
	want := []string{"BEGIN IMMEDIATE", "UPDATE c", "ROLLBACK ", "BEGIN IMMEDIATE", "UPDATE c", "INSERT OR", "COMMIT "}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("an increment ran\n%q\nwant\n%q", *got, want)
	}
	if rows := query(t, s, "o", "SELECT v FROM c"); rows[0][0] != int64(2) {
		t.Fatalf("counter is %v after 2 increments", rows[0][0])
	}
}

// TestFirstWriteFailsWhole: a session's first write, which runs with no
// savepoint, leaves nothing when it fails (not even the rows an OR FAIL
// keeps), and the session goes on in a new transaction.
func TestFirstWriteFailsWhole(t *testing.T) {
	s := open(t, Config{})
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v UNIQUE)"}}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	_, err = sess.Exec("INSERT OR FAIL INTO t VALUES (1), (2), (1)")
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "UNIQUE constraint failed") {
		t.Fatalf("want SQLite's constraint error, got %v", err)
	}
	if err := sess.Put("k", []byte("v")); err != nil {
		t.Fatalf("a write after the failed first one: %v", err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatalf("a write after the failed first one: %v", err)
	}
	res, err := sess.Exec("SELECT v FROM t ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(1)}}) {
		t.Fatalf("the session sees %v, want only the 1 inserted after the failure", res.Rows)
	}
	if n := len(sess.Log()); n != 2 {
		t.Fatalf("log has %d statements, want the 2 that took effect", n)
	}
	if sess.h.conn.GetAutocommit() {
		t.Fatal("the session is outside a transaction")
	}
}

// TestApplyPastALeftLimit: the size limit a leader's session leaves set
// on its handle does not bound an Apply on that handle: a log past it
// (another leader's, with a larger limit) commits as on any replica.
func TestApplyPastALeftLimit(t *testing.T) {
	const limit = 64 << 10
	s := open(t, Config{Limits: Limits{DatabaseBytes: limit}})
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (b)"}}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES (zeroblob(1))"); err != nil {
		t.Fatal(err)
	}
	if err := sess.Rollback(); err != nil {
		t.Fatal(err)
	}
	var log []Statement
	for range 40 { // 160 kB: past the limit
		log = append(log, Statement{Op: OpSQL, SQL: "INSERT INTO t VALUES (zeroblob(4000))"})
	}
	if err := s.Apply("o", 2, Env{}, log); err != nil {
		t.Fatalf("a log past the session's limit: %v", err)
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM t"); rows[0][0] != int64(40) {
		t.Fatalf("%v rows applied, want 40", rows[0][0])
	}
	if n, err := s.Applied("o"); err != nil || n != 2 {
		t.Fatalf("applied index %d, %v; want 2", n, err)
	}
}
