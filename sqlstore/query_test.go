package sqlstore

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestQuery: an operator's query returns the rows of one read-only
// statement, at most the limits' worth with more set past them, refuses a
// write before it runs, more than one statement, and what Cloudflare's
// restrictions refuse.
func TestQuery(t *testing.T) {
	s := open(t, Config{})
	err := s.Apply("o", 1, Env{}, []Statement{
		{Op: OpSQL, SQL: "CREATE TABLE t (id INTEGER PRIMARY KEY, v)"},
		{Op: OpSQL, SQL: "INSERT INTO t (v) VALUES ('a'), ('bb'), (x'00ff'), (NULL), (2.5)"},
		{Op: OpPut, Args: []any{"k", []byte("v")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginRead("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Rollback()
	res, more, err := r.Query("SELECT id, v FROM t WHERE id >= ?", []any{2}, QueryLimits{Rows: 10, Bytes: 1 << 20})
	if err != nil || more {
		t.Fatalf("query: %v, more %v", err, more)
	}
	want := [][]any{{int64(2), "bb"}, {int64(3), []byte{0, 0xff}}, {int64(4), nil}, {int64(5), 2.5}}
	if !reflect.DeepEqual(res.Columns, []string{"id", "v"}) || !reflect.DeepEqual(res.Rows, want) {
		t.Fatalf("got %v %v; want %v", res.Columns, res.Rows, want)
	}
	for _, tt := range []struct {
		lim  QueryLimits
		rows int
	}{{QueryLimits{Rows: 2, Bytes: 1 << 20}, 2}, {QueryLimits{Rows: 10, Bytes: 1}, 1}} {
		res, more, err := r.Query("SELECT * FROM t", nil, tt.lim)
		if err != nil || !more || len(res.Rows) != tt.rows {
			t.Errorf("limits %+v: %d rows, more %v, %v; want %d rows and more", tt.lim, len(res.Rows), more, err, tt.rows)
		}
	}
	if res, _, err := r.Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'", nil, QueryLimits{Rows: 10, Bytes: 100}); err != nil || !reflect.DeepEqual(res.Rows, [][]any{{"t"}}) {
		t.Errorf("the table list: %+v, %v", res, err)
	}
	for _, tt := range []struct{ q, want string }{
		{"DELETE FROM t", "only reads"},
		{"INSERT INTO t (v) VALUES (1) RETURNING id", "only reads"},
		{"CREATE TABLE u (x)", "only reads"},
		{"SELECT 1; DELETE FROM t", "one statement"},
		{"SELECT * FROM _cf_KV", "_cf_"},
		{"PRAGMA journal_mode", "not allowed"},
		{"ATTACH 'x.db' AS x", "ATTACH"},
		{"SELEC 1", "syntax error"},
		{"", "empty"},
	} {
		if _, _, err := r.Query(tt.q, nil, QueryLimits{Rows: 10, Bytes: 100}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v; want an error saying %q", tt.q, err, tt.want)
		}
	}
	// SQLite counts the foreign-key switch as reading, but inside the
	// session's transaction it is a no-op: the connection keeps it on.
	lim := QueryLimits{Rows: 1, Bytes: 100}
	if _, _, err := r.Query("PRAGMA foreign_keys = OFF", nil, lim); err != nil {
		t.Fatal(err)
	}
	if res, _, err := r.Query("PRAGMA foreign_keys", nil, lim); err != nil || res.Rows[0][0] != int64(1) {
		t.Fatalf("foreign keys after a query turned them off: %+v, %v", res, err)
	}
	if _, _, err := r.Query("DELETE FROM t", nil, lim); !errors.Is(err, ErrRefused) {
		t.Errorf("a write is not ErrRefused: %v", err)
	}
	if err := r.Rollback(); err != nil {
		t.Fatal(err)
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM t"); rows[0][0] != int64(5) {
		t.Fatal("a query wrote")
	}
}

// TestExists: a database is there once a command wrote to its object,
// and asking does not make one.
func TestExists(t *testing.T) {
	s := open(t, Config{})
	for range 2 {
		if ok, err := s.Exists("o"); ok || err != nil {
			t.Fatalf("before any write: %v, %v", ok, err)
		}
	}
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists("o"); !ok || err != nil {
		t.Fatalf("after a write: %v, %v", ok, err)
	}
}
