package cluster

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/objects"
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

func callClass(t *testing.T, n *Node, class, path, idem string) (*CallResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Call(ctx, class, "c1", &classes.Request{Method: http.MethodPost, URL: "http://x/" + path, Header: http.Header{}}, idem)
}

// follower returns a node of c that is not leader.
func (c *testCluster) follower(leader *Node) *Node {
	for _, n := range c.nodes {
		if n != leader {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
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
	if s, p := leader.peer.callsOnStream.Load(), leader.peer.callsOnPost.Load(); s != uint64(len(tests)) || p != 0 {
		t.Fatalf("the leader ran %d calls from the stream and %d from POSTs, want %d and 0", s, p, len(tests))
	}
	if s := f.fwd.streams.current(leader.deps.Trans.LocalAddr()); s == nil || s.proto != streamProtoV2 {
		t.Fatalf("the follower's stream to the leader is %+v, want one of %s", s, streamProtoV2)
	}
	// Writes share the stream.
	if _, _, err := f.Write(context.Background(), "o", increment(1), ""); err != nil {
		t.Fatalf("write from the follower: %v", err)
	}

	t.Run("not leader", func(t *testing.T) {
		// A call that reaches a node that is no longer the leader runs
		// nothing there: not applied.
		var other *Node
		for _, n := range c.nodes {
			if n != leader && n != f {
				other = n
			}
		}
		ss := &streams{from: "test", dial: f.deps.Peers.DialPeer, retireAfter: time.Second}
		defer ss.closeAll(errShuttingDown)
		fc := forwardedCall{Class: "Counter", Name: "c1", Method: http.MethodPost, URL: "http://x/increment"}
		res, ok := ss.call(context.Background(), other.cfg.ID, other.deps.Trans.LocalAddr(), &fc)
		if !ok {
			t.Fatal("the call was not sent on the stream")
		}
		if _, err := res.outcome(); !errors.Is(err, ErrNotApplied) {
			t.Fatalf("call to a follower: %v, want ErrNotApplied", err)
		}
		if n := other.peer.callsOnStream.Load(); n != 1 {
			t.Fatalf("the follower got %d calls on its stream, want 1", n)
		}
	})
}

// A leader built before /2 refuses it: the follower opens its stream as
// /1 and posts its calls, as it did before.
func TestFollowerCallsToAV1Leader(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	for _, n := range c.nodes {
		n.peer.refuseStreamV2.Store(true)
	}
	deployTest(t, leader, testSlowCounter)
	f := c.follower(leader)
	c.eventually(5*time.Second, "the class on the follower", func() bool { _, ok := f.Class("Counter"); return ok })

	if _, _, err := f.Write(context.Background(), "o", increment(1), ""); err != nil {
		t.Fatalf("write from the follower on /1: %v", err)
	}
	if s := f.fwd.streams.current(leader.deps.Trans.LocalAddr()); s == nil || s.proto != streamProto {
		t.Fatalf("the follower's stream to the leader is %+v, want one of %s", s, streamProto)
	}
	for want := 1; want <= 2; want++ {
		res, err := callClass(t, f, "Counter", "increment", "")
		if err != nil || string(res.Response.Body) != string(rune('0'+want)) {
			t.Fatalf("call %d through a /1 leader: %+v, %v", want, res, err)
		}
	}
	if _, err := callClass(t, f, "Nope", "", ""); !errors.Is(err, ErrClassNotFound) {
		t.Fatalf("unknown class through a /1 leader: %v", err)
	}
	if s, p := leader.peer.callsOnStream.Load(), leader.peer.callsOnPost.Load(); s != 0 || p != 3 {
		t.Fatalf("the leader ran %d calls from the stream and %d from POSTs, want 0 and 3", s, p)
	}
}

// A follower built before /2 asks for /1; the leader serves its writes in
// /1 frames.
func TestLeaderServesV1Streams(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	ss := &streams{from: "old", dial: c.follower(leader).deps.Peers.DialPeer, retireAfter: time.Second}
	defer ss.closeAll(errShuttingDown)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := ss.dialProto(ctx, leader.cfg.ID, leader.deps.Trans.LocalAddr(), streamProto)
	if err != nil {
		t.Fatalf("a /1 stream: %v", err)
	}
	defer s.fail(errShuttingDown)
	r := s.roundTrip(ctx, newPendingRequest(forwardedWrite{Object: "o", Txn: wireTxnOf(increment(2))}, nil))
	if err := r.R.err(); err != nil || !r.R.Result.Succeeded || r.R.Index == 0 {
		t.Fatalf("a write on /1: %+v, %v", r.R, err)
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
	c.eventually(5*time.Second, "the call running on the leader", func() bool { return leader.peer.callsOnStream.Load() == 1 })
	if err := f.SetBlocked([]string{leader.cfg.ID}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.SetBlocked(nil) })
	if err := <-errc; !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("call in flight when the stream broke: %v, want ErrOutcomeUnknown", err)
	}
	fc := forwardedCall{Class: "Counter", Name: "c1", Method: http.MethodPost, URL: "http://x/increment"}
	if _, err := f.classHost().forward(context.Background(), leader.cfg.ID, leader.deps.Trans.LocalAddr(), fc); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("call while the leader is cut off: %v, want ErrNotApplied", err)
	}
	// Without the check of Blocked, the stream cannot be dialed.
	res, ok := f.fwd.streams.call(context.Background(), leader.cfg.ID, leader.deps.Trans.LocalAddr(), &fc)
	if _, err := res.outcome(); !ok || !errors.Is(err, ErrNotApplied) {
		t.Fatalf("call on a stream that cannot be dialed: %v (handled %v), want ErrNotApplied", err, ok)
	}
	if n := leader.peer.callsOnStream.Load(); n != 1 {
		t.Fatalf("the leader got %d calls, want only the one in flight", n)
	}
}

// fakeLeaderV2 accepts /2 forwarding streams and hands each to speak.
func fakeLeaderV2(t *testing.T, speak func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer)) raft.ServerAddress {
	return fakeStreamLeader(t, streamProtoV2, newFrameEncoder, func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ net.Conn) {
		speak(dec, enc, bw)
	})
}

// The outcomes of a call on the stream, as a follower sees them.
func TestStreamCallOutcomes(t *testing.T) {
	fc := forwardedCall{Class: "Counter", Name: "c1", Method: http.MethodGet, URL: "http://x/"}
	// speak is the fake leader; it calls got once it has the call.
	type speak func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, got func())
	tests := []struct {
		name  string
		speak speak
		// cancelOnSend cancels the caller once the leader has the call.
		cancelOnSend bool
		want         error // nil: the answer below
	}{
		{"answered", func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ func()) {
			for {
				var req streamRequestV2
				if dec.Decode(&req) != nil || req.C == nil {
					return
				}
				r := callResultOf(&CallResult{Response: &classes.Response{Status: 202, Body: []byte(req.C.Name)}, Index: 5}, nil)
				enc.Encode(&streamResultV2{ID: req.ID, C: &r})
				bw.Flush()
			}
		}, false, nil},
		{"cut after sending", func(dec *msgpack.Decoder, _ *msgpack.Encoder, _ *bufio.Writer, _ func()) {
			var req streamRequestV2
			dec.Decode(&req) // the leader has the call, then the connection breaks
		}, false, ErrOutcomeUnknown},
		{"caller gives up after sending", func(dec *msgpack.Decoder, _ *msgpack.Encoder, _ *bufio.Writer, got func()) {
			var req streamRequestV2
			dec.Decode(&req)
			got()
			dec.Decode(&req) // never answers; returns when the follower closes
		}, true, ErrOutcomeUnknown},
		{"answered as a write", func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ func()) {
			var req streamRequestV2
			dec.Decode(&req)
			r := resultOf(objects.TxnResult{Succeeded: true}, 1, nil)
			enc.Encode(&streamResultV2{ID: req.ID, R: &r})
			bw.Flush()
			dec.Decode(&req)
		}, false, ErrOutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan struct{})
			addr := fakeLeaderV2(t, func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer) {
				tt.speak(dec, enc, bw, func() { close(got) })
			})
			f := testStreams()
			defer f.closeAll(errShuttingDown)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelOnSend {
				go func() { <-got; cancel() }()
			}
			r, ok := f.call(ctx, "l", addr, &fc)
			if !ok {
				t.Fatal("a /2 leader's stream did not take the call")
			}
			res, err := r.outcome()
			if tt.want == nil {
				if err != nil || res.Response.Status != 202 || string(res.Response.Body) != "c1" || res.Index != 5 {
					t.Fatalf("answer = %+v, %v", res, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("unreachable leader", func(t *testing.T) {
		closed := closedAddr(t)
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		r, ok := f.call(context.Background(), "l", closed, &fc)
		if _, err := r.outcome(); !ok || !errors.Is(err, ErrNotApplied) {
			t.Fatalf("unreachable leader: %v (handled %v), want ErrNotApplied", err, ok)
		}
	})

	t.Run("v1 leader", func(t *testing.T) {
		addr := fakeLeader(t, echoLeader)
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if _, ok := f.call(context.Background(), "l", addr, &fc); ok {
			t.Fatal("a call went on a /1 stream")
		}
	})
}

// The leader bounds what one stream's calls take: a frame over the call
// limit is answered without running, and when every slot is taken the
// reader waits, until the stream stops.
func TestStreamCallBounds(t *testing.T) {
	n := &Node{peer: &peerServer{}}
	out := &resultQueue{wake: make(chan struct{}, 1)}
	stopped := make(chan struct{})
	calls := newStreamCalls(stopped)
	fc := &forwardedCall{Class: "Counter", Name: "c1"}

	if !n.startStreamCall(calls, 1, fc, maxForwardedCallBytes+1, out) {
		t.Fatal("an oversized call stopped the stream")
	}
	res := out.takeAll()
	if len(res) != 1 || res[0].ID != 1 || res[0].C == nil {
		t.Fatalf("answers to an oversized call: %+v", res)
	}
	if _, err := res[0].C.outcome(); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("oversized call: %v, want ErrNotApplied", err)
	}

	for range maxStreamCalls {
		calls.slots <- struct{}{} // every slot taken by a running call
	}
	started := make(chan bool, 1)
	go func() { started <- n.startStreamCall(calls, 2, fc, 10, out) }()
	select {
	case <-started:
		t.Fatal("a call started with every slot taken")
	case <-time.After(50 * time.Millisecond):
	}
	close(stopped)
	if <-started {
		t.Fatal("the reader did not learn that the stream stopped")
	}
	if n.peer.callsOnStream.Load() != 0 {
		t.Fatal("a call ran")
	}
}
