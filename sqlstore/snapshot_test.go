package sqlstore

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSnapshotRoundTrip: a frozen object streams the state it was frozen
// at, though commands go on being applied; installed on another store it
// has the same digest, its data and its applied index.
func TestSnapshotRoundTrip(t *testing.T) {
	src, dst := open(t, Config{}), open(t, Config{})
	for i, c := range nondeterministic {
		env := Env{Seed: uint64(i), Now: time.Unix(int64(1e9+i), 0)}
		log, _ := lead(t, src, "o", env, c)
		if err := src.Apply("o", uint64(i+1), env, log); err != nil {
			t.Fatal(err)
		}
	}
	frozenAt := digest(t, src, "o")
	f, err := src.Freeze("o")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Writes after the freeze are not blocked, and not in the stream.
	if err := src.Apply("o", 10, Env{}, []Statement{{Op: OpSQL, SQL: "DELETE FROM t"}, {Op: OpPut, Args: []any{"late", []byte("x")}}}); err != nil {
		t.Fatalf("a write while frozen: %v", err)
	}
	if digest(t, src, "o") == frozenAt {
		t.Fatal("the write after the freeze changed nothing: the test proves nothing")
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	// Installed over an object that has other data.
	if err := dst.Apply("o", 0, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE other (x)"}}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Install("o", bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := digest(t, dst, "o"); got != frozenAt {
		t.Fatalf("installed digest %x, want the frozen state's %x", got, frozenAt)
	}
	if idx, err := dst.Applied("o"); err != nil || idx != uint64(len(nondeterministic)) {
		t.Fatalf("installed applied index %d, %v; want %d", idx, err, len(nondeterministic))
	}
	sess, err := dst.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if v, ok, err := sess.Get("k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("installed key k = %q, %v, %v", v, ok, err)
	}
}

// TestInstallRefusesGarbage: a stream that is not a database replaces
// nothing.
func TestInstallRefusesGarbage(t *testing.T) {
	s := open(t, Config{})
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (x)"}}); err != nil {
		t.Fatal(err)
	}
	before := digest(t, s, "o")
	err := s.Install("o", strings.NewReader(strings.Repeat("not a database ", 1000)))
	if err == nil {
		t.Fatal("installed garbage")
	}
	if digest(t, s, "o") != before {
		t.Fatal("a refused install changed the object")
	}
}

// TestDigestSeesEveryChange: the digest changes with a row's value, its
// type, a key-value pair and the schema, and not with the page layout.
func TestDigestSeesEveryChange(t *testing.T) {
	s := open(t, Config{})
	base := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (x)"}, {Op: OpSQL, SQL: "INSERT INTO t VALUES (1)"}}
	variants := [][]Statement{
		{{Op: OpSQL, SQL: "UPDATE t SET x = 2"}},
		{{Op: OpSQL, SQL: "UPDATE t SET x = '1'"}},
		{{Op: OpSQL, SQL: "UPDATE t SET x = 1.0"}},
		{{Op: OpPut, Args: []any{"k", []byte{}}}},
		{{Op: OpSQL, SQL: "CREATE INDEX i ON t (x)"}},
	}
	seen := map[[32]byte]int{}
	for i, v := range append([][]Statement{nil}, variants...) {
		obj := string(rune('a' + i))
		if err := s.Apply(obj, 0, Env{}, append(append([]Statement{}, base...), v...)); err != nil {
			t.Fatal(err)
		}
		d := digest(t, s, obj)
		if j, dup := seen[d]; dup {
			t.Errorf("variant %d has the digest of variant %d", i, j)
		}
		seen[d] = i
	}
	// Same rows, other history (pages freed and reused): same digest.
	churn := append(append([]Statement{}, base...),
		Statement{Op: OpSQL, SQL: "CREATE TABLE junk (b)"},
		Statement{Op: OpSQL, SQL: "INSERT INTO junk VALUES (zeroblob(100000))"},
		Statement{Op: OpSQL, SQL: "DROP TABLE junk"})
	if err := s.Apply("churn", 0, Env{}, churn); err != nil {
		t.Fatal(err)
	}
	if digest(t, s, "churn") != digest(t, s, "a") {
		t.Error("the digest depends on the page layout")
	}
}
