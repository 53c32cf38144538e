package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// heldEntry is an entry handed to the fake Raft; the test decides when
// it commits.
type heldEntry struct {
	count  int // commands in the entry
	done   chan struct{}
	commit func() // closes done, once
}

func (e *heldEntry) Error() error  { <-e.done; return nil }
func (e *heldEntry) Index() uint64 { return 1 }
func (e *heldEntry) Response() interface{} {
	if e.count == 1 {
		return "ok"
	}
	resp := &fsm.BatchResponse{}
	for range e.count {
		resp.Responses = append(resp.Responses, "ok")
	}
	return resp
}

// heldProposer is a proposer over a fake Raft that reports each entry on
// entries and holds it until the test commits it. Gathering lasts limit,
// whatever the entries took.
func heldProposer(t *testing.T, limit time.Duration) (*proposer, chan *heldEntry) {
	t.Helper()
	entries := make(chan *heldEntry, 16)
	pr := &proposer{gatherFor: func(time.Duration) time.Duration { return limit }}
	var (
		mu   sync.Mutex
		made []*heldEntry
	)
	pr.apply = func(data []byte) raft.ApplyFuture {
		e := &heldEntry{count: 1, done: make(chan struct{})}
		e.commit = sync.OnceFunc(func() { close(e.done) })
		if cmd, err := fsm.Decode(data); err == nil && cmd.Kind == fsm.KindBatch {
			e.count = len(cmd.Batch)
		}
		mu.Lock()
		made = append(made, e)
		mu.Unlock()
		entries <- e
		return e
	}
	t.Cleanup(func() {
		pr.close()
		mu.Lock()
		for _, e := range made {
			e.commit()
		}
		mu.Unlock()
		idle(t, pr)
	})
	return pr, entries
}

func submitN(t *testing.T, pr *proposer, n int) []chan proposed {
	t.Helper()
	outs := make([]chan proposed, n)
	for i := range outs {
		out := make(chan proposed, 1)
		data, err := fsm.Encode(&fsm.Command{Kind: fsm.KindNoop})
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.submit(&proposal{data: data, deliver: func(r proposed) { out <- r }}); err != nil {
			t.Fatal(err)
		}
		outs[i] = out
	}
	return outs
}

// idle waits for the proposer's waiting goroutine to end.
func idle(t *testing.T, pr *proposer) {
	t.Helper()
	if !pr.wait(10 * time.Second) {
		t.Fatal("proposer still waiting or gathering after 10s")
	}
}

func nextEntry(t *testing.T, entries chan *heldEntry) *heldEntry {
	t.Helper()
	select {
	case e := <-entries:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no entry proposed within 10s")
		return nil
	}
}

func answered(t *testing.T, outs []chan proposed) {
	t.Helper()
	for i, out := range outs {
		select {
		case r := <-out:
			if r.err != nil || r.resp != "ok" {
				t.Fatalf("proposal %d: got %v, %v", i, r.resp, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("proposal %d not answered within 10s", i)
		}
	}
}

// gatheringFor returns a proposer that has just answered an entry of k
// commands and now gathers for k, for up to limit.
func gatheringFor(t *testing.T, limit time.Duration, k int) (*proposer, chan *heldEntry) {
	t.Helper()
	pr, entries := heldProposer(t, limit)
	first := submitN(t, pr, 1)
	a := nextEntry(t, entries)
	rest := submitN(t, pr, k) // queue behind a
	a.commit()
	answered(t, first)
	b := nextEntry(t, entries)
	if b.count != k {
		t.Fatalf("second entry has %d commands, want the %d queued", b.count, k)
	}
	b.commit()
	answered(t, rest)
	return pr, entries
}

// The writers answered by an entry of several commands come back
// together in the next entry, instead of the first of them going alone
// while the others queue behind it.
func TestProposerGathersTheAnsweredWriters(t *testing.T) {
	pr, entries := gatheringFor(t, time.Hour, 2)
	// Without gathering the first submit would go alone.
	again := submitN(t, pr, 2)
	c := nextEntry(t, entries)
	if c.count != 2 {
		t.Fatalf("gathered entry has %d commands, want 2", c.count)
	}
	c.commit()
	answered(t, again)
}

// A gathering entry whose writers do not all come back goes once none
// has come for half its limit.
func TestProposerGatheringEndsWhenWritersStopComing(t *testing.T) {
	const limit = 200 * time.Millisecond
	pr, entries := gatheringFor(t, limit, 3)
	begun := time.Now()
	lone := submitN(t, pr, 1) // one of the three writers comes back
	c := nextEntry(t, entries)
	if waited := time.Since(begun); waited < limit/2 {
		t.Fatalf("entry of 1 went after %v, before the quiet time %v", waited, limit/2)
	}
	if c.count != 1 {
		t.Fatalf("entry has %d commands, want 1", c.count)
	}
	c.commit()
	answered(t, lone)
}

// An entry of one command never makes the next wait: the waiting
// goroutine ends at once when nothing is queued.
func TestProposerLoneWriterDoesNotGather(t *testing.T) {
	pr, entries := heldProposer(t, time.Hour)
	for range 3 {
		outs := submitN(t, pr, 1)
		e := nextEntry(t, entries)
		e.commit()
		answered(t, outs)
		idle(t, pr) // ends only if nothing gathers
	}
}

// Closing the proposer ends a gathering at once.
func TestProposerCloseEndsGathering(t *testing.T) {
	pr, _ := gatheringFor(t, time.Hour, 2)
	pr.close()
	idle(t, pr)
	if err := pr.submit(&proposal{data: []byte{}, deliver: func(proposed) {}}); err == nil {
		t.Fatal("submit after close succeeded")
	}
}
