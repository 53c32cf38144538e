package host

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// testSlowCounter is testCounterV1's counter with a path that holds its
// call for a while before it writes, so that a test can break the stream
// while the call is in flight.
const testSlowCounter = `
export class Counter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/slow") {
      await new Promise(resolve => setTimeout(resolve, 2000));
    }
    if (url.pathname === "/throw") {
      throw new Error("thrown on purpose");
    }
    const value = ((await this.ctx.storage.get("value")) ?? 0) + 1;
    await this.ctx.storage.put("value", value);
    return new Response(String(value), {status: 201, headers: {"X-Version": "1"}});
  }
}
`

func callClass(t *testing.T, n *testNode, class, path, idem string) (*CallResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.host.Call(ctx, class, "c1", &classes.Request{Method: http.MethodPost, URL: "http://x/" + path, Header: http.Header{}}, idem)
}

// streamCall sends fc on n's stream to the node `to`, as forward does,
// and returns its outcome.
func streamCall(t *testing.T, n, to *testNode, fc forwardedCall) (*CallResult, error) {
	t.Helper()
	call, err := encodeFrame(&fc)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := n.StreamCall(context.Background(), to.id, rafted(to), call)
	if err != nil {
		return nil, err
	}
	var res forwardedCallResult
	if err := msgpack.Unmarshal(answer, &res); err != nil {
		t.Fatal(err)
	}
	return res.outcome()
}

// A follower's class calls travel on the forwarding stream, and their
// answers and errors mean what they meant as POSTs.
func TestFollowerCallsOnTheStream(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployTest(t, leader, testSlowCounter)
	f := c.follower(leader)
	c.eventually(5*time.Second, "the class on the follower", func() bool { _, ok := f.Class("Counter"); return ok })

	tests := []struct {
		name, class, path, idem string
		check                   func(*CallResult, error) error
	}{
		{"ok", "Counter", "increment", "once", func(r *CallResult, err error) error {
			if err != nil || r.Response.Status != 201 || string(r.Response.Body) != "1" || r.Response.Header.Get("X-Version") != "1" || r.Replayed || r.Index == 0 {
				return errors.New("want 201 \"1\" with its header and index")
			}
			return nil
		}},
		{"replayed", "Counter", "increment", "once", func(r *CallResult, err error) error {
			if err != nil || !r.Replayed || string(r.Response.Body) != "1" {
				return errors.New("want the first response, replayed")
			}
			return nil
		}},
		{"class not found", "Nope", "", "", func(_ *CallResult, err error) error {
			if !errors.Is(err, ErrClassNotFound) {
				return errors.New("want ErrClassNotFound")
			}
			return nil
		}},
		{"script error", "Counter", "throw", "", func(_ *CallResult, err error) error {
			var ce *CallError
			if !errors.As(err, &ce) || !strings.Contains(ce.Message, "thrown on purpose") {
				return errors.New("want a CallError with the exception's message")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := callClass(t, f, tt.class, tt.path, tt.idem)
			if cerr := tt.check(res, err); cerr != nil {
				t.Fatalf("%s: got %+v, %v", cerr, res, err)
			}
		})
	}
	if s, p := leader.host.callsOnStream.Load(), leader.host.callsOnPost.Load(); s != uint64(len(tests)) || p != 0 {
		t.Fatalf("the leader ran %d calls from the stream and %d from POSTs, want %d and 0", s, p, len(tests))
	}

	t.Run("not leader", func(t *testing.T) {
		// A call that reaches a node that is no longer the leader runs
		// nothing there: not applied.
		var other *testNode
		for _, n := range c.nodes {
			if n != leader && n != f {
				other = n
			}
		}
		fc := forwardedCall{Class: "Counter", Name: "c1", Method: http.MethodPost, URL: "http://x/increment"}
		if _, err := streamCall(t, f, other, fc); !errors.Is(err, cluster.ErrNotApplied) {
			t.Fatalf("call to a follower: %v, want ErrNotApplied", err)
		}
		if n := other.host.callsOnStream.Load(); n != 1 {
			t.Fatalf("the follower got %d calls on its stream, want 1", n)
		}
	})

	t.Run("oversized", func(t *testing.T) {
		// A call is bounded on the stream as a POST is: one over the
		// bound is answered not applied without running.
		fc := forwardedCall{Class: "Counter", Name: "c1", Method: http.MethodPost, URL: "http://x/increment",
			Body: make([]byte, maxForwardedCallBytes)}
		before := leader.host.callsOnStream.Load()
		if _, err := streamCall(t, f, leader, fc); !errors.Is(err, cluster.ErrNotApplied) {
			t.Fatalf("oversized call: %v, want ErrNotApplied", err)
		}
		if leader.host.callsOnStream.Load() != before {
			t.Fatal("the oversized call ran")
		}
	})
}

// rafted is n's Raft address, where its peer service is.
func rafted(n *testNode) raft.ServerAddress { return raft.ServerAddress(n.RaftAddr()) }

// A leader built before /2 refuses it: the follower opens its stream as
// /1 and posts its calls, as it did before.
func TestFollowerCallsToAV1Leader(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	for _, n := range c.nodes {
		n.ServeOnlyStreamV1(true)
	}
	deployTest(t, leader, testSlowCounter)
	f := c.follower(leader)
	c.eventually(5*time.Second, "the class on the follower", func() bool { _, ok := f.Class("Counter"); return ok })

	for want := 1; want <= 2; want++ {
		res, err := callClass(t, f, "Counter", "increment", "")
		if err != nil || string(res.Response.Body) != string(rune('0'+want)) {
			t.Fatalf("call %d through a /1 leader: %+v, %v", want, res, err)
		}
	}
	if _, err := callClass(t, f, "Nope", "", ""); !errors.Is(err, ErrClassNotFound) {
		t.Fatalf("unknown class through a /1 leader: %v", err)
	}
	if s, p := leader.host.callsOnStream.Load(), leader.host.callsOnPost.Load(); s != 0 || p != 3 {
		t.Fatalf("the leader ran %d calls from the stream and %d from POSTs, want 0 and 3", s, p)
	}
}

// A call sent on a stream that breaks before its answer may have run:
// outcome unknown. One never sent, because the leader is cut off, is not
// applied.
func TestStreamCallCut(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployTest(t, leader, testSlowCounter)
	f := c.follower(leader)
	c.eventually(5*time.Second, "the class on the follower", func() bool { _, ok := f.Class("Counter"); return ok })

	errc := make(chan error, 1)
	go func() {
		_, err := callClass(t, f, "Counter", "slow", "")
		errc <- err
	}()
	c.eventually(5*time.Second, "the call running on the leader", func() bool { return leader.host.callsOnStream.Load() == 1 })
	if err := f.SetBlocked([]string{leader.id}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.SetBlocked(nil) })
	if err := <-errc; !errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("call in flight when the stream broke: %v, want ErrOutcomeUnknown", err)
	}
	if _, err := callClass(t, f, "Counter", "increment", ""); !errors.Is(err, cluster.ErrNotLeader) && !errors.Is(err, cluster.ErrNotApplied) {
		t.Fatalf("call while the leader is cut off: %v, want not applied", err)
	}
	// Even past the leader's address check, the stream cannot be dialed.
	fc := &namedCall{Class: "Counter", Name: "c1", Method: http.MethodPost, URL: "http://x/increment"}
	if _, err := f.host.forward(context.Background(), leader.id, rafted(leader), fc); !errors.Is(err, cluster.ErrNotApplied) {
		t.Fatalf("call on a stream that cannot be dialed: %v, want ErrNotApplied", err)
	}
	if n := leader.host.callsOnStream.Load(); n != 1 {
		t.Fatalf("the leader got %d calls, want only the one in flight", n)
	}
}
