package sqlstore

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// reference is list() computed by sorting a map's keys by their bytes.
func reference(kv map[string]string, o ListOptions) []Entry {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		if o.StartAfter != "" && k <= o.StartAfter || o.StartAfter == "" && k < o.Start ||
			o.End != "" && k >= o.End || !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // Go compares strings by bytes
	if o.Reverse {
		slices.Reverse(keys)
	}
	if o.Limit > 0 && len(keys) > o.Limit {
		keys = keys[:o.Limit]
	}
	out := make([]Entry, len(keys))
	for i, k := range keys {
		out[i] = Entry{Key: k, Value: []byte(kv[k])}
	}
	return out
}

// TestKVListMatchesReference: list() over random keys (ASCII, multi-byte
// UTF-8, shared prefixes, 0xff-ended prefixes) returns what sorting by
// bytes returns, for every kind of range, forward and reverse, after the
// writes are replayed on a replica.
func TestKVListMatchesReference(t *testing.T) {
	s := open(t, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "ab", "é", "z", "日", "\U0001F600", "\uffff", "0", "~"}
	kv := map[string]string{}
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		k, v := b.String(), time.Duration(rng.Int64()).String()
		kv[k] = v
		if err := sess.Put(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for k := range kv { // delete a few, through the log too
		if rng.IntN(10) == 0 {
			delete(kv, k)
			if had, err := sess.Delete(k); err != nil || !had {
				t.Fatalf("delete %q: %v, %v", k, had, err)
			}
		}
	}
	log := sess.Log()
	if err := sess.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply("o", 1, Env{}, log); err != nil {
		t.Fatal(err)
	}
	opts := []ListOptions{
		{}, {Reverse: true}, {Limit: 7}, {Limit: 7, Reverse: true},
		{Prefix: "a"}, {Prefix: "日"}, {Prefix: "\uffff"}, {Prefix: "a", Reverse: true, Limit: 3},
		{Start: "b", End: "z"}, {StartAfter: "b", End: "日"}, {Start: "é"}, {End: "ab", Reverse: true},
		{Start: "a", End: "a"}, {Prefix: "zz", Start: "zzz"},
	}
	read, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer read.Rollback()
	for _, o := range opts {
		got, err := read.List(o)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(kv, o); !reflect.DeepEqual(nonEmpty(got), nonEmpty(want)) {
			t.Errorf("list %+v: got %d entries, want %d\ngot  %q\nwant %q", o, len(got), len(want), keysOf(got), keysOf(want))
		}
	}
	v, ok, err := read.Get("missing")
	if err != nil || ok || v != nil {
		t.Errorf("Get(missing) = %q, %v, %v", v, ok, err)
	}
	if n, err := read.DeleteAll(); err != nil || n != int64(len(kv)) {
		t.Errorf("DeleteAll = %d, %v; want %d", n, err, len(kv))
	}
	if got, _ := read.List(ListOptions{}); len(got) != 0 {
		t.Errorf("after DeleteAll %d entries remain", len(got))
	}
}

func nonEmpty(e []Entry) []Entry {
	if len(e) == 0 {
		return nil
	}
	return e
}

func keysOf(e []Entry) []string {
	k := make([]string, len(e))
	for i := range e {
		k[i] = e[i].Key
	}
	return k
}

// TestPrefixEnd: the bound after a prefix.
func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		in, out string
		ok      bool
	}{{"a", "b", true}, {"a\xff", "b", true}, {"\xff\xff", "", false}, {"日", "日"[:2] + "\xa6", true}} {
		got, ok := prefixEnd(c.in)
		if got != c.out || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.in, got, ok, c.out, c.ok)
		}
	}
}

// TestDeleteAllWipesTheDatabase: deleteAll() on a SQLite-backed object
// removes its tables, views, triggers and AUTOINCREMENT counters as well
// as its key-value pairs, foreign keys notwithstanding, on replay too.
func TestDeleteAllWipesTheDatabase(t *testing.T) {
	s := open(t, Config{})
	log, _ := lead(t, s, "o", Env{}, call{sql: []string{
		"CREATE TABLE p (id INTEGER PRIMARY KEY AUTOINCREMENT)",
		"CREATE TABLE c (pid REFERENCES p (id))",
		"INSERT INTO p DEFAULT VALUES", "INSERT INTO c VALUES (1)",
		"CREATE VIEW v AS SELECT * FROM c", "CREATE INDEX ci ON c (pid)",
		"CREATE TRIGGER tr AFTER INSERT ON p BEGIN INSERT INTO c VALUES (new.id); END",
	}, put: map[string]string{"a": "1", "b": "2"}})
	if err := s.Apply("o", 1, Env{}, log); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sess.DeleteAll()
	if err != nil || n != 2 {
		t.Fatalf("DeleteAll = %d, %v; want 2 pairs", n, err)
	}
	wipe := sess.Log()
	_ = sess.Rollback()
	if err := s.Apply("o", 2, Env{}, wipe); err != nil {
		t.Fatal(err)
	}
	rows := query(t, s, "o", "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name != 'sqlite_sequence'")
	if len(rows) != 0 {
		t.Fatalf("after deleteAll the schema still holds %v", rows)
	}
	if rows := query(t, s, "o", "SELECT count(*) FROM sqlite_sequence"); rows[0][0] != int64(0) {
		t.Fatal("AUTOINCREMENT counters survived deleteAll")
	}
}

// TestStoreStatementsNotSharedWithUsers: the store's own statements skip
// the authorizer, so a user's statement of the same text must not reuse
// one the store prepared: it is refused as if the store had run none.
func TestStoreStatementsNotSharedWithUsers(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Rollback() }()
	if err := sess.Put("k", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	// A key the call has not written: the store reads the table, with
	// the SELECT it prepares (a get of "k" is answered from the call's
	// pending put, lazy.go).
	if _, _, err := sess.Get("other"); err != nil {
		t.Fatal(err)
	}
	res, err := sess.Exec("SELECT value FROM _cf_KV WHERE key = ?", "k")
	if err == nil {
		t.Fatalf("a user's statement read the key-value table: %v", res.Rows)
	}
	if !strings.Contains(err.Error(), "_cf_") {
		t.Fatalf("refused with %v, want the reason (tables named _cf_*)", err)
	}
}
