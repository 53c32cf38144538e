package sqlstore

import (
	"testing"
	"time"
)

// TestStoreIDIsTheDirectorys: a store's identity stays with its
// directory across opens, and another directory's differs.
func TestStoreIDIsTheDirectorys(t *testing.T) {
	dir := t.TempDir()
	a := open(t, Config{Dir: dir})
	id := a.ID()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if again := open(t, Config{Dir: dir}).ID(); again != id || len(id) != 32 {
		t.Fatalf("identity %q after reopening, was %q", again, id)
	}
	if other := open(t, Config{}).ID(); other == id {
		t.Fatal("two directories have one identity")
	}
}

// TestDigestCommittedBesideASession: the committed state's digest is
// read while a session holds the object (without waiting for it), and
// leaves its uncommitted writes out; the position returned with it is
// the one of the state hashed, read from the copy as from the handle.
func TestDigestCommittedBesideASession(t *testing.T) {
	s := open(t, Config{})
	env := Env{Now: time.Unix(1_700_000_000, 0)}
	if err := s.Apply("o", 5, env, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}}); err != nil {
		t.Fatal(err)
	}
	want := digest(t, s, "o")
	sess, err := s.Begin("o", env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	got, pos, err := s.DigestCommitted("o")
	if err != nil || got != want || pos != 5 {
		t.Fatalf("digest beside the session: %x at %d, %v; want the committed %x at 5", got, pos, err, want)
	}
	sess.Rollback()
	if err := s.Apply("o", 9, env, []Statement{{Op: OpSQL, SQL: "INSERT INTO t VALUES (2)"}}); err != nil {
		t.Fatal(err)
	}
	if got, pos, err := s.DigestCommitted("o"); err != nil || got != digest(t, s, "o") || got == want || pos != 9 {
		t.Fatalf("digest of the handle: %x at %d, %v; want the new state at 9", got, pos, err)
	}
	if !s.Has("o") || s.Has("never") {
		t.Fatal("Has does not tell which objects have a file")
	}
}

// TestFrozenApplied: a frozen database says the applied index of the
// state it holds, not of later commands.
func TestFrozenApplied(t *testing.T) {
	s := open(t, Config{})
	if err := s.Apply("o", 3, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Freeze("o")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Apply("o", 4, Env{}, []Statement{{Op: OpSQL, SQL: "INSERT INTO t VALUES (1)"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Applied(); err != nil || got != 3 {
		t.Fatalf("frozen applied %d, %v; want 3", got, err)
	}
}
