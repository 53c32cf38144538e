package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

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

// mustMsgpack is v encoded.
func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A follower's calls travel on its stream to the leader's registered
// handler, which gets them as sent, and its answers come back as given;
// writes share the stream.
func TestStreamCallsReachTheLeadersHandler(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	var ran atomic.Int64
	for _, n := range c.nodes {
		n.HandleStreamCalls(func(_ context.Context, call []byte) []byte {
			ran.Add(1)
			var s string
			if err := msgpack.Unmarshal(call, &s); err != nil {
				return mustMsgpack(t, "undecodable")
			}
			return mustMsgpack(t, "ran "+s)
		}, time.Second)
	}
	f := c.follower(leader)
	for _, s := range []string{"a", "b"} {
		answer, err := f.StreamCall(context.Background(), leader.cfg.ID, leader.deps.Trans.LocalAddr(), mustMsgpack(t, s))
		if err != nil || !bytes.Equal(answer, mustMsgpack(t, "ran "+s)) {
			t.Fatalf("call %q: %q, %v", s, answer, err)
		}
	}
	if s := f.fwd.streams.current(leader.deps.Trans.LocalAddr()); s == nil || s.proto != streamProtoV2 {
		t.Fatalf("the follower's stream to the leader is %+v, want one of %s", s, streamProtoV2)
	}
	if _, _, err := f.Write(context.Background(), "o", increment(1), ""); err != nil {
		t.Fatalf("write from the follower: %v", err)
	}
	if ran.Load() != 2 {
		t.Fatalf("the handlers ran %d calls, want 2", ran.Load())
	}

	// A leader that speaks only /1 takes no call: nothing is sent (a
	// stream of its own, as the follower's is already /2).
	leader.ServeOnlyStreamV1(true)
	ss := &streams{from: "test", dial: f.deps.Peers.DialPeer, retireAfter: time.Second}
	defer ss.closeAll(errShuttingDown)
	if _, err := ss.call(context.Background(), leader.cfg.ID, leader.deps.Trans.LocalAddr(), mustMsgpack(t, "c")); !errors.Is(err, ErrStreamV1) {
		t.Fatalf("call to a /1 leader: %v, want ErrStreamV1", err)
	}
	if ran.Load() != 2 {
		t.Fatal("a call ran through a /1 stream")
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
	r := s.roundTrip(ctx, newPendingRequest(forwardedWrite{Object: "o", Txn: wireTxnOf(increment(2))}, nil)).res
	if err := r.R.err(); err != nil || !r.R.Result.Succeeded || r.R.Index == 0 {
		t.Fatalf("a write on /1: %+v, %v", r.R, err)
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
	call := mustMsgpack(t, "c1")
	// speak is the fake leader; it calls got once it has the call.
	type speak func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, got func())
	tests := []struct {
		name  string
		speak speak
		// cancelOnSend cancels the caller once the leader has the call.
		cancelOnSend bool
		want         error // nil: the call echoed
	}{
		{"answered", func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ func()) {
			for {
				var req streamRequestV2
				if dec.Decode(&req) != nil || req.C == nil {
					return
				}
				enc.Encode(&streamResultV2{ID: req.ID, C: req.C})
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
			answer, err := f.call(ctx, "l", addr, call)
			if tt.want == nil {
				if err != nil || !bytes.Equal(answer, call) {
					t.Fatalf("answer = %q, %v", answer, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("unreachable leader", func(t *testing.T) {
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if _, err := f.call(context.Background(), "l", closedAddr(t), call); !errors.Is(err, ErrNotApplied) {
			t.Fatalf("unreachable leader: %v, want ErrNotApplied", err)
		}
	})

	t.Run("v1 leader", func(t *testing.T) {
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if _, err := f.call(context.Background(), "l", fakeLeader(t, echoLeader), call); !errors.Is(err, ErrStreamV1) {
			t.Fatalf("a call to a /1 leader: %v, want ErrStreamV1", err)
		}
	})
}

// The leader bounds what one stream's calls take: when every slot is
// taken the reader waits, until the stream stops; a leader that runs no
// calls stops the stream.
func TestStreamCallBounds(t *testing.T) {
	n := &Node{peer: &peerServer{}, log: slog.New(slog.DiscardHandler)}
	out := &resultQueue{wake: make(chan struct{}, 1)}
	stopped := make(chan struct{})
	calls := newStreamCalls(stopped)
	call := msgpack.RawMessage(mustMsgpack(t, "c1"))
	if n.startStreamCall(calls, 1, call, out) {
		t.Fatal("a node without a call handler took a call")
	}

	var ran atomic.Int64
	h := StreamCallHandler(func(context.Context, []byte) []byte { ran.Add(1); return nil })
	n.streamCalls.Store(&h)
	for range maxStreamCalls {
		calls.slots <- struct{}{} // every slot taken by a running call
	}
	started := make(chan bool, 1)
	go func() { started <- n.startStreamCall(calls, 2, call, out) }()
	select {
	case <-started:
		t.Fatal("a call started with every slot taken")
	case <-time.After(50 * time.Millisecond):
	}
	close(stopped)
	if <-started {
		t.Fatal("the reader did not learn that the stream stopped")
	}
	if ran.Load() != 0 {
		t.Fatal("a call ran")
	}
}

// TestReadResultRefusesDeclaredLengths: an answer frame whose header
// declares 2.4 billion results, with no bytes behind them, fails the read
// instead of sizing a slice by the declaration (which took the process's
// memory before the frame was read whole first).
func TestReadResultRefusesDeclaredLengths(t *testing.T) {
	frame := []byte{0x82, 0xa2, 'i', 'd', 0x01, 0xa1, 'r', 0x81, 0xa1, 'r', 0x81,
		0xa7, 'r', 'e', 's', 'u', 'l', 't', 's', 0xdd, 0x92, 0xcb, 0x96, 0x9c}
	for _, proto := range []string{streamProto, streamProtoV2} {
		s := &stream{proto: proto}
		if _, err := s.readResult(msgpack.NewDecoder(bytes.NewReader(frame))); err == nil {
			t.Fatalf("%s: a truncated frame declaring 2.4 billion results was read", proto)
		}
	}
	// A whole frame still reads.
	var buf bytes.Buffer
	if err := msgpack.NewEncoder(&buf).Encode(streamResultV2{ID: 7, R: &forwardedResult{Index: 3}}); err != nil {
		t.Fatal(err)
	}
	res, err := (&stream{proto: streamProtoV2}).readResult(msgpack.NewDecoder(&buf))
	if err != nil || res.ID != 7 || res.R == nil || res.R.Index != 3 {
		t.Fatalf("a whole frame read as %+v, %v", res, err)
	}
}

// TestPeerAnswerRefusesDeclaredLengths: a peer's answer to a one-shot
// call (join, remove, read index) declaring 2.4 billion results, with no
// bytes behind them, is an error, not a slice sized by the declaration.
func TestPeerAnswerRefusesDeclaredLengths(t *testing.T) {
	answer := []byte{0x81, 0xa1, 'r', 0x81, 0xa7, 'r', 'e', 's', 'u', 'l', 't', 's', 0xdd, 0x92, 0xcb, 0x96, 0x9c}
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(answer)
	}))
	defer peer.Close()
	pc := &peerClient{hc: peer.Client()}
	addr := raft.ServerAddress(strings.TrimPrefix(peer.URL, "http://"))
	if _, err := pc.call(context.Background(), addr, pathReadIndex, struct{}{}); err == nil {
		t.Fatal("a truncated answer declaring 2.4 billion results was decoded")
	}
}
