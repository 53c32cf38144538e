package sqlstore

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestKeyValueCallBeginsNoTransaction: a call that gets and puts
// key-value pairs runs no transaction on the leader, sees its own writes,
// and its log, applied, stores them; one that then runs SQL sees them
// too, in the same order as the replicas.
func TestKeyValueCallBeginsNoTransaction(t *testing.T) {
	s := open(t, Config{})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := sess.Get("n"); err != nil || ok {
		t.Fatalf("Get of a new key: ok %v, err %v", ok, err)
	}
	if err := sess.Put("n", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := sess.Get("n"); err != nil || !ok || string(v) != "1" {
		t.Fatalf("Get after Put: %q %v %v", v, ok, err)
	}
	if sess.begun || !sess.h.conn.GetAutocommit() {
		t.Fatal("a get-and-put call began a transaction")
	}
	commit(t, s, sess, "o", 2, Env{})

	sess, err = s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if err := sess.Put("n", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Exec("CREATE TABLE t (v)"); err != nil {
		t.Fatal(err)
	}
	if !sess.begun {
		t.Fatal("a statement ran outside the session's transaction")
	}
	got, err := sess.List(ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Entry{{Key: "n", Value: []byte("2")}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list after a deferred put and a statement: %q, want %q", got, want)
	}
	if want := []Op{OpPut, OpSQL}; !reflect.DeepEqual(ops(sess.Log()), want) {
		t.Fatalf("log ops %v, want %v", ops(sess.Log()), want)
	}
}

func ops(log []Statement) []Op {
	out := make([]Op, len(log))
	for i, st := range log {
		out[i] = st.Op
	}
	return out
}

// TestLazySessionsMatchAModel runs random calls — gets, puts, deletes,
// lists, deleteAll, statements — on a leader's sessions, commits most of
// them by applying their logs on the leader and on a replica, applies
// some logs again at their old index (skipped, as after a restart), and
// some that fail on replay, and checks every read against a model of
// what is committed plus the call's own writes: the leader's cache of
// committed pairs must follow every apply, and only applies that ran.
// At the end the leader and the replica hold the same database.
func TestLazySessionsMatchAModel(t *testing.T) {
	leader, replica := open(t, Config{}), open(t, Config{})
	rng := rand.New(rand.NewPCG(7, 11))
	keys := make([]string, 24) // more than the cache holds
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	value := func() []byte {
		n := 1 + rng.IntN(40)
		if rng.IntN(8) == 0 {
			n = kvCacheValueBytes + rng.IntN(100) // not cached
		}
		return bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, n)
	}
	committed := map[string][]byte{}
	type entry struct {
		index uint64
		log   []Statement
	}
	var applied []entry
	index := uint64(1)
	apply := func(log []Statement, at uint64) error {
		err := leader.Apply("o", at, Env{}, log)
		if rerr := replica.Apply("o", at, Env{}, log); (err == nil) != (rerr == nil) {
			t.Fatalf("leader and replica disagree applying %d: %v / %v", at, err, rerr)
		}
		return err
	}
	// run makes one call and returns its log and what it saw last. A
	// failure rolls its session back first: the store's cleanup waits
	// for the handle.
	run := func(call int) ([]Statement, map[string][]byte) {
		sess, err := leader.Begin("o", Env{})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Rollback()
		view := maps.Clone(committed)
		for range 1 + rng.IntN(5) {
			k := keys[rng.IntN(len(keys))]
			switch r := rng.IntN(20); {
			case r < 8:
				v, ok, err := sess.Get(k)
				want, wantOK := view[k]
				if err != nil || ok != wantOK || !bytes.Equal(v, want) {
					t.Fatalf("call %d: Get(%s) = %.20q %v %v, want %.20q %v", call, k, v, ok, err, want, wantOK)
				}
			case r < 14:
				v := value()
				if err := sess.Put(k, v); err != nil {
					t.Fatal(err)
				}
				view[k] = v
			case r < 17:
				ok, err := sess.Delete(k)
				_, wantOK := view[k]
				if err != nil || ok != wantOK {
					t.Fatalf("call %d: Delete(%s) = %v %v, want %v", call, k, ok, err, wantOK)
				}
				delete(view, k)
			case r < 18:
				got, err := sess.List(ListOptions{Prefix: "k1"})
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{}
				for k, v := range view {
					if strings.HasPrefix(k, "k1") {
						want[k] = string(v)
					}
				}
				if exp := reference(want, ListOptions{}); !reflect.DeepEqual(nonEmpty(got), nonEmpty(exp)) {
					t.Fatalf("call %d: List = %d entries, want %d", call, len(got), len(exp))
				}
			case r < 19:
				if rng.IntN(10) == 0 {
					if _, err := sess.DeleteAll(); err != nil {
						t.Fatal(err)
					}
					clear(view)
				}
			default:
				if _, err := sess.Exec("CREATE TABLE IF NOT EXISTS t (v); INSERT INTO t VALUES (1)"); err != nil {
					t.Fatal(err)
				}
			}
		}
		log := sess.Log()
		if err := sess.Rollback(); err != nil {
			t.Fatal(err)
		}
		return log, view
	}
	for call := range 600 {
		log, view := run(call)
		switch r := rng.IntN(10); {
		case r < 7 && len(log) > 0: // committed
			index++
			if err := apply(log, index); err != nil {
				t.Fatalf("call %d: %v", call, err)
			}
			committed = view
			applied = append(applied, entry{index, log})
		case r < 8 && len(applied) > 0: // an old command again, skipped
			old := applied[rng.IntN(len(applied))]
			if err := apply(old.log, old.index); err != nil {
				t.Fatalf("call %d: the apply of %d again: %v", call, old.index, err)
			}
		case r < 9 && len(log) > 0: // fails on replay: nothing of it stays
			index++
			bad := append(append([]Statement(nil), log...), Statement{Op: OpSQL, SQL: "INSERT INTO missing VALUES (1)"})
			if err := apply(bad, index); err == nil {
				t.Fatalf("call %d: a log that fails on replay applied", call)
			}
		default: // the call threw: nothing applied
		}
	}
	if a, b := digest(t, leader, "o"), digest(t, replica, "o"); a != b {
		t.Fatal("leader and replica databases differ")
	}
}

// TestKeyValueSizeLimit: calls that each put a value, committed one by
// one, fill a database up to its size limit and no further: the put that
// does not fit fails naming the limit, though puts are deferred while
// they surely fit, and every committed one reads back.
func TestKeyValueSizeLimit(t *testing.T) {
	const limit = 1 << 20
	s := open(t, Config{Limits: Limits{DatabaseBytes: limit}})
	value := bytes.Repeat([]byte{'v'}, 300_000) // a few fill it: the last one that fits is near the limit
	put := func(i int) error {
		sess, err := s.Begin("o", Env{})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Rollback()
		if err := sess.Put(fmt.Sprintf("k%04d", i), value); err != nil {
			return err
		}
		commit(t, s, sess, "o", uint64(i+1), Env{})
		return nil
	}
	var full error
	n := 0
	for ; n < 1000 && full == nil; n++ {
		full = put(n)
	}
	if !errors.Is(full, ErrLimit) || !strings.Contains(full.Error(), fmt.Sprintf("size limit of %d bytes", limit)) {
		t.Fatalf("want a size-limit error naming %d bytes after %d puts, got %v", limit, n, full)
	}
	if size, err := s.DatabaseSize("o"); err != nil || size > limit {
		t.Fatalf("database is %d bytes (%v), over the %d limit", size, err, limit)
	}
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	if got, err := sess.List(ListOptions{}); err != nil || len(got) != n-1 {
		t.Fatalf("%d pairs stored (%v), want the %d puts that fitted", len(got), err, n-1)
	}
}

// TestKeyValueSizeLimitInOneCall: one call putting value after value
// into an empty database is refused at the put that does not fit, though
// the first ones were deferred, and what it put before fits once applied.
func TestKeyValueSizeLimitInOneCall(t *testing.T) {
	const limit = 1 << 20
	s := open(t, Config{Limits: Limits{DatabaseBytes: limit}})
	sess, err := s.Begin("o", Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	value := bytes.Repeat([]byte{'v'}, 200_000)
	var full error
	n := 0
	for ; n < 100 && full == nil; n++ {
		full = sess.Put(fmt.Sprintf("k%02d", n), value)
		if n == 0 && sess.begun {
			t.Fatal("the first put, far from the limit, began the transaction")
		}
	}
	if !errors.Is(full, ErrLimit) || n < 3 {
		t.Fatalf("want a size-limit error after a few puts, got %v after %d", full, n)
	}
	commit(t, s, sess, "o", 1, Env{})
	if size, err := s.DatabaseSize("o"); err != nil || size > limit {
		t.Fatalf("database is %d bytes (%v), over the %d limit", size, err, limit)
	}
}
