package host

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// testMemoryCounter keeps its count in memory once read: an instance
// that outlives a change of storage answers from memory.
const testMemoryCounter = `
export class Counter {
  constructor(ctx) { this.ctx = ctx; this.n = null; }
  async fetch() {
    if (this.n === null) this.n = (await this.ctx.storage.get("n")) ?? 0;
    this.n++;
    await this.ctx.storage.put("n", this.n);
    return new Response(String(this.n));
  }
}
`

func fakeCall(t *testing.T, h *Host) (string, error) {
	t.Helper()
	res, err := h.Call(context.Background(), "Counter", "c1", &classes.Request{Method: http.MethodPost, URL: "http://x/", Header: http.Header{}}, "")
	if err != nil {
		return "", err
	}
	return string(res.Response.Body), nil
}

// An instance built in one term is never used in a later one: the
// term's first call drops it before it runs, whether or not the host has
// heard of the leadership change (the fake never tells it). Between
// them another leader changed the object's storage.
func TestNoCallUsesAnInstanceOfAnEarlierTerm(t *testing.T) {
	f := newFakeRaft(2)
	h := New(f, testHostConfig())
	t.Cleanup(func() { h.Close() })
	if _, err := h.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(testMemoryCounter)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1", "2"} {
		if got, err := fakeCall(t, h); err != nil || got != want {
			t.Fatalf("call in term 2: %q, %v, want %q", got, err, want)
		}
	}
	// Term 3: another leader's call sets n to 10.
	f.setTerm(3)
	body, err := fsm.EncodeBody(&fsm.Call{Ops: []objects.Op{{Op: objects.OpPut, Key: "n", Value: []byte("10")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Propose(context.Background(), &fsm.Command{Kind: fsm.KindCall, Object: fsm.ClassObject("Counter", "c1"), Body: body}); err != nil {
		t.Fatal(err)
	}
	// Term 4: this node leads again.
	f.setTerm(4)
	if got, err := fakeCall(t, h); err != nil || got != "11" {
		t.Fatalf("first call of term 4: %q, %v, want 11 (from storage, not the term-2 instance's memory)", got, err)
	}
	if st := h.Stats(); st.Built != 2 {
		t.Fatalf("%d instances built, want 2 (one a term)", st.Built)
	}
}

// A run commits only in the term it began in: a leader that lost
// leadership and won it back during a run may have missed another
// leader's writes, so the run is refused (not applied) and its instance,
// whose memory ran ahead of storage, is dropped.
func TestRunCommitsOnlyInItsTerm(t *testing.T) {
	f := newFakeRaft(2)
	h := New(f, testHostConfig())
	t.Cleanup(func() { h.Close() })
	if _, err := h.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(testMemoryCounter)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.bumpAfterBarrier = true
	f.mu.Unlock()
	if _, err := fakeCall(t, h); !errors.Is(err, cluster.ErrNotApplied) {
		t.Fatalf("a run across a change of term: %v, want ErrNotApplied", err)
	}
	if v, ok := storedValue(f.m, "n"); ok {
		t.Fatalf("the refused run wrote n = %s", v)
	}
	f.mu.Lock()
	f.bumpAfterBarrier = false
	f.mu.Unlock()
	if got, err := fakeCall(t, h); err != nil || got != "1" {
		t.Fatalf("the next call: %q, %v, want 1 (a new instance)", got, err)
	}
}

func storedValue(m *fsm.Machine, key string) (v string, ok bool) {
	m.Read(func(s *objects.Store) {
		var raw []byte
		raw, ok = s.Get(fsm.ClassObject("Counter", "c1"), key)
		v = string(raw)
	})
	return v, ok
}
