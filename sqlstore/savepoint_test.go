package sqlstore

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestSavepointsReplay: a call's savepoints do on every replica what they
// did on the leader — a released one keeps its writes, a rolled-back one
// (nested or not) leaves none, random() draws the same values after one —
// and the log holds no write that was rolled back.
func TestSavepointsReplay(t *testing.T) {
	leader, follower := open(t, Config{}), open(t, Config{})
	env := Env{Seed: 7, Now: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)}
	sess, err := leader.Begin("obj", env)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	exec := func(q string, args ...any) *Result {
		t.Helper()
		res, err := sess.Exec(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v)")
	exec("INSERT INTO t (v) VALUES ('kept')")

	outer, err := sess.Savepoint()
	must(err)
	exec("INSERT INTO t (v) VALUES ('released')")
	inner, err := sess.Savepoint()
	must(err)
	exec("INSERT INTO t (v) VALUES ('inner, rolled back')")
	must(sess.Put("gone", []byte("x")))
	must(sess.RollbackTo(inner))
	must(sess.Release(outer))

	sp, err := sess.Savepoint()
	must(err)
	exec("INSERT INTO t (v) VALUES ('rolled back')")
	exec("CREATE TABLE gone (x)")
	must(sess.RollbackTo(sp))
	last := exec("INSERT INTO t (v) VALUES (random()) RETURNING id, v").Rows[0]

	for _, st := range sess.Log() {
		for _, a := range st.Args {
			if a == "gone" {
				t.Errorf("the log holds a rolled-back write: %+v", st)
			}
		}
		if st.SQL == "CREATE TABLE gone (x)" || st.SQL == "INSERT INTO t (v) VALUES ('rolled back')" {
			t.Errorf("the log holds a rolled-back write: %+v", st)
		}
	}
	want := exec("SELECT id, v FROM t ORDER BY id").Rows
	if err := follower.Apply("obj", 1, env, sess.Log()); err != nil {
		t.Fatal(err)
	}
	got := query(t, follower, "obj", "SELECT id, v FROM t ORDER BY id")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replica has %v, the leader's call saw %v", got, want)
	}
	if len(got) != 3 || got[1][1] != "released" || !reflect.DeepEqual(got[2], last) {
		t.Errorf("rows %v: want kept, released and the random row %v (id 3: the rolled-back ids are free again)", got, last)
	}
	if n := query(t, follower, "obj", "SELECT count(*) FROM sqlite_schema WHERE name = 'gone'"); n[0][0] != int64(0) {
		t.Error("a table created in a rolled-back savepoint exists on the replica")
	}
	if _, ok, _ := followerGet(t, follower, "gone"); ok {
		t.Error("a key put in a rolled-back savepoint exists on the replica")
	}
}

func followerGet(t *testing.T, s *Store, key string) ([]byte, bool, error) {
	t.Helper()
	sess, err := s.Begin("obj", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	return sess.Get(key)
}

// TestSavepointErrors: a savepoint that is not open is refused; a failed
// statement inside a savepoint leaves it open and usable.
func TestSavepointErrors(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("obj", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if err := sess.Release(1); !errors.Is(err, ErrNoSavepoint) {
		t.Errorf("Release of no savepoint: %v, want ErrNoSavepoint", err)
	}
	sp, err := sess.Savepoint()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("CREATE TABLE t (x UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES (1), (1)"); err == nil {
		t.Fatal("a constraint violation succeeded")
	}
	if err := sess.RollbackTo(sp); err != nil {
		t.Fatalf("RollbackTo after a failed statement: %v", err)
	}
	if err := sess.RollbackTo(sp); !errors.Is(err, ErrNoSavepoint) {
		t.Errorf("a second RollbackTo: %v, want ErrNoSavepoint", err)
	}
	if len(sess.Log()) != 0 {
		t.Errorf("log after rolling everything back: %+v", sess.Log())
	}
}

// TestSavepointsSurviveTheSizeLimit: a write that hits the size limit
// inside a savepoint (SQLite may roll back the whole transaction then;
// the session replays its log) leaves the savepoints open: the call can
// still roll one back, and a replica ends where the leader does.
func TestSavepointsSurviveTheSizeLimit(t *testing.T) {
	s := open(t, Config{Limits: Limits{DatabaseBytes: 64 << 10}})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if _, err := sess.Exec("CREATE TABLE t (b)"); err != nil {
		t.Fatal(err)
	}
	outer, err := sess.Savepoint()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	inner, err := sess.Savepoint()
	if err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		_, full = sess.Exec("INSERT INTO t VALUES (zeroblob(4000))")
	}
	if !errors.Is(full, ErrLimit) {
		t.Fatalf("want the size limit, got %v", full)
	}
	if err := sess.RollbackTo(inner); err != nil {
		t.Fatalf("RollbackTo after the limit: %v", err)
	}
	if err := sess.Release(outer); err != nil {
		t.Fatalf("Release after the limit: %v", err)
	}
	res, err := sess.Exec("SELECT group_concat(b) FROM t")
	if err != nil || res.Rows[0][0] != "kept" {
		t.Fatalf("rows %v, %v; want only 'kept'", res, err)
	}
	replica := open(t, Config{})
	if err := replica.Apply("o", 1, Env{}, sess.Log()); err != nil {
		t.Fatal(err)
	}
	if got := query(t, replica, "o", "SELECT group_concat(b) FROM t"); got[0][0] != "kept" {
		t.Fatalf("replica holds %v", got)
	}
}
