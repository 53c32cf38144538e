package sqlstore

import (
	"errors"
	"testing"
	"time"
)

// TestDivergedIsRememberedAcrossSkips: a command whose log fails fails
// again when it is met once more over a database that holds later
// commands (a restart replaying the Raft log), instead of being skipped
// as if it had applied; a command that applied is skipped quietly.
func TestDivergedIsRememberedAcrossSkips(t *testing.T) {
	s := open(t, Config{})
	env := Env{Seed: 1, Now: time.Unix(1_700_000_000, 0)}
	create := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v INTEGER)"}}
	bad := []Statement{{Op: OpSQL, SQL: "INSERT INTO t VALUES (1)"}, {Op: OpSQL, SQL: "INSERT INTO missing VALUES (2)"}}
	good := []Statement{{Op: OpSQL, SQL: "INSERT INTO t VALUES (3)"}}
	if err := s.Apply("o", 1, env, create); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply("o", 2, env, bad); !errors.Is(err, ErrDiverged) {
		t.Fatalf("bad log: %v, want ErrDiverged", err)
	}
	if err := s.Apply("o", 3, env, good); err != nil {
		t.Fatal(err)
	}
	before := digest(t, s, "o")
	// The log replayed from the start: 1 and 3 are skipped, 2 fails again.
	for _, c := range []struct {
		index uint64
		log   []Statement
		fails bool
	}{{1, create, false}, {2, bad, true}, {3, good, false}} {
		err := s.Apply("o", c.index, env, c.log)
		if got := errors.Is(err, ErrDiverged); got != c.fails || (!c.fails && err != nil) {
			t.Fatalf("replay of %d: %v, want diverged %v", c.index, err, c.fails)
		}
	}
	if digest(t, s, "o") != before {
		t.Fatal("replaying changed the database")
	}
	if applied, err := s.Applied("o"); err != nil || applied != 3 {
		t.Fatalf("applied = %d, %v, want 3", applied, err)
	}
	// The rows: the failed command's first insert was rolled back.
	sess, err := s.BeginRead("o", env)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec("SELECT v FROM t ORDER BY v")
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != int64(3) {
		t.Fatalf("rows = %v, %v, want only 3", res, err)
	}
}

// TestFaultIsNotDivergence: the node's own failures are not ErrDiverged.
func TestFaultIsNotDivergence(t *testing.T) {
	if fault(errors.New("no such table: t")) {
		t.Fatal("a plain error counted as a fault")
	}
	if !fault(&Error{Code: 10 /* SQLITE_IOERR */, Msg: "disk I/O error"}) {
		t.Fatal("an I/O error is not a fault")
	}
	if fault(&Error{Code: 19 /* SQLITE_CONSTRAINT */, Msg: "UNIQUE constraint failed"}) {
		t.Fatal("a constraint failure counted as a fault")
	}
}
