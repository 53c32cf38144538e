package fsm

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// digestPair is two machines with SQL stores, a and b, each object with a
// database, fed the same calls.
type digestPair struct {
	t          *testing.T
	live, peer *feeder
}

func newDigestPair(t *testing.T, objects ...string) *digestPair {
	p := &digestPair{t: t,
		live: &feeder{t: t, m: New(Options{SQL: openSQL(t)})},
		peer: &feeder{t: t, m: New(Options{SQL: openSQL(t)})}}
	for _, o := range objects {
		p.both(sqlCall(t, o, 1, "CREATE TABLE t (v)"))
	}
	return p
}

// both applies c to both machines.
func (p *digestPair) both(c *Command) {
	p.live.applyRaw(c)
	p.peer.applyRaw(c)
}

// peerDigest is the peer's digest, which nothing else writes to.
func (p *digestPair) peerDigest() (string, uint64) {
	p.t.Helper()
	d, applied, _, err := p.peer.m.Digest()
	if err != nil {
		p.t.Fatal(err)
	}
	return d, applied
}

// TestDigestLetsWritesThrough: a digest held between two databases does
// not hold up a command (one to a database already hashed), which
// completes meanwhile; the digest is still exactly the state at its
// index, the one a replica that applied no further has.
func TestDigestLetsWritesThrough(t *testing.T) {
	a, b := ClassObject("app:C", "a"), ClassObject("app:C", "b")
	p := newDigestPair(t, a, b)
	want, wantIndex := p.peerDigest()
	held := true
	p.live.m.digestHook = func(object string) {
		if object != a || !held {
			return
		}
		held = false
		data, err := Encode(sqlCall(t, a, 2, "INSERT INTO t VALUES (1)"))
		if err != nil {
			t.Fatal(err)
		}
		p.live.index++
		entry := &raft.Log{Index: p.live.index, Type: raft.LogCommand, Data: data}
		done := make(chan any)
		go func() { done <- p.live.m.Apply(entry) }()
		select {
		case res := <-done:
			if r, ok := res.(*CallResult); !ok || r.Err != nil {
				t.Errorf("the write during the digest: %+v", res)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a write waited for the digest") // it never will now
		}
	}
	d, applied, _, err := p.live.m.Digest()
	if err != nil || d != want || applied != wantIndex {
		t.Fatalf("digest %s at %d, %v; want the state at %d, %s", d, applied, err, wantIndex, want)
	}
	if held {
		t.Fatal("the hook never ran")
	}
	if now, _, _, _ := p.live.m.Digest(); now == want {
		t.Fatal("the write is not in the next digest")
	}
}

// TestDigestDatabasePastItsIndex: a database that a command after the
// digest's index reached before it was hashed fails the try; the next
// try gives the state at the later index, and tries that all fail are
// ErrDigestBusy, never a digest mixing two indexes.
func TestDigestDatabasePastItsIndex(t *testing.T) {
	a, b := ClassObject("app:C", "a"), ClassObject("app:C", "b")
	p := newDigestPair(t, a, b)
	writes := 0
	p.live.m.digestHook = func(object string) {
		if object == a && writes < 1 {
			writes++
			p.both(sqlCall(t, b, uint64(10+writes), "INSERT INTO t VALUES (random())"))
		}
	}
	d, applied, _, err := p.live.m.Digest()
	want, wantIndex := p.peerDigest() // after the write both had
	if err != nil || d != want || applied != wantIndex || writes != 1 {
		t.Fatalf("digest %s at %d, %v after %d writes; want the state at %d, %s", d, applied, err, writes, wantIndex, want)
	}

	p.live.m.digestHook = func(object string) {
		if object == a {
			writes++
			p.live.applyRaw(sqlCall(t, b, uint64(10+writes), "INSERT INTO t VALUES (random())"))
		}
	}
	if d, applied, _, err := p.live.m.Digest(); !errors.Is(err, ErrDigestBusy) || d != "" {
		t.Fatalf("digest %q at %d, %v while every try met a later write; want ErrDigestBusy", d, applied, err)
	}
	if writes != 1+digestTries {
		t.Fatalf("%d tries, want %d", writes-1, digestTries)
	}
}

// TestDigestAcrossARestore: a restore while a digest hashes (a backup put
// back) may replace a database by one of another history, at a position
// no later than the digest's index: the try fails rather than mix the
// state before the restore with a database after it, and the next try
// gives the restored state.
func TestDigestAcrossARestore(t *testing.T) {
	a, b := ClassObject("app:C", "a"), ClassObject("app:C", "b")
	p := newDigestPair(t, a, b)
	p.peer.applyRaw(sqlCall(t, b, 3, "INSERT INTO t VALUES ('peer')"))
	backup := shippedBytes(t, p.peer.m, snapshotBytes(t, p.peer.m))
	p.live.applyRaw(sqlCall(t, a, 4, "INSERT INTO t VALUES ('live')"))
	tries := 0
	p.live.m.digestHook = func(object string) {
		if object != a {
			return
		}
		tries++
		if tries == 1 {
			restore(t, p.live.m, backup)
		}
	}
	d, applied, _, err := p.live.m.Digest()
	if got := rows(t, p.live.m, b, "SELECT * FROM t"); len(got) != 1 || got[0][0] != "peer" {
		t.Fatalf("b's rows after the restore: %v; the test means to replace b", got)
	}
	if err != nil || tries != 2 {
		t.Fatalf("digest %s at %d, %v after %d tries; want the second try's", d, applied, err, tries)
	}
	p.live.m.digestHook = nil
	if again, at, _, err := p.live.m.Digest(); err != nil || again != d || at != applied || at != 3 {
		t.Fatalf("digest %s at %d, then %s at %d (%v): not the restored state", d, applied, again, at, err)
	}
}
