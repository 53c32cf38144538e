package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// Class calls on the forwarding stream (protocol /2, see wire.go). One
// POST per call cost a request's parsing and a pooled connection each
// way, and held a connection per call in flight; on the stream a call is
// a frame among the writes, and the answers of many go in one flush.
//
// The node carries calls without knowing what they are: a call and its
// answer are msgpack values that the object host (package host) encodes
// and runs, registered with HandleStreamCalls. A call runs JavaScript and
// waits for its object's input gate and for Raft, so the leader runs each
// in its own goroutine rather than on the stream's reader, which must
// keep reading writes; streamCalls bounds how many one stream may have
// running, so that a follower cannot make the leader start goroutines
// without bound: when all are taken the reader waits, and the follower's
// frames wait in the connection's buffers.

// maxStreamCalls bounds the calls one stream may have running on the
// leader. A follower forwards at most the calls its clients have in
// flight; with the API's body limit (1 MiB) it bounds what one stream's
// calls hold too.
const maxStreamCalls = 256

// StreamCallHandler runs, on the leader, a call a follower sent on its
// stream, and returns the answer to send back; both are msgpack values.
// The call goes on if the stream breaks, as a write does: the follower
// has reported its outcome unknown.
type StreamCallHandler func(ctx context.Context, call []byte) (answer []byte)

// HandleStreamCalls registers the runner of the calls followers send on
// their streams. timeout bounds one call (the follower keeps the stream
// to a former leader open that long for the calls it owes). A leader
// without a handler closes a stream that carries a call.
func (n *Node) HandleStreamCalls(h StreamCallHandler, timeout time.Duration) {
	n.fwd.streams.retireCallsAfter.Store(int64(timeout + time.Second))
	n.streamCalls.Store(&h)
}

// streamCalls is the leader's count of a stream's calls in flight.
type streamCalls struct {
	slots   chan struct{} // one token a running call
	stopped <-chan struct{}
}

// newStreamCalls bounds the calls of one stream; stopped closes when the
// stream's writer has stopped, after which no answer can be sent.
func newStreamCalls(stopped <-chan struct{}) *streamCalls {
	return &streamCalls{slots: make(chan struct{}, maxStreamCalls), stopped: stopped}
}

// startStreamCall runs the call a follower sent as request id in its own
// goroutine, once a slot is free, and pushes its answer to out. It
// reports false if the stream stopped while it waited for a slot, or if
// no handler runs calls here.
func (n *Node) startStreamCall(calls *streamCalls, id uint64, call msgpack.RawMessage, out *resultQueue) bool {
	h := n.streamCalls.Load()
	if h == nil {
		n.log.Warn("forwarding stream closed: it carries a class call, and this node runs none")
		return false
	}
	select {
	case calls.slots <- struct{}{}:
	case <-calls.stopped:
		return false
	}
	go func() {
		defer func() { <-calls.slots }()
		answer := msgpack.RawMessage((*h)(context.Background(), call))
		out.push(streamResultV2{ID: id, C: &answer})
	}()
	return true
}

// StreamCall sends call (an msgpack value) on the stream to the leader
// and waits for its answer, as a write waits for its outcome. Errors:
// ErrNotApplied when the leader cannot have seen it, ErrOutcomeUnknown
// once it may have; ErrStreamV1, with nothing sent, when the leader
// speaks only /1 (the caller sends the call another way).
func (n *Node) StreamCall(ctx context.Context, leaderID string, leader raft.ServerAddress, call []byte) ([]byte, error) {
	return n.fwd.streams.call(ctx, leaderID, leader, call)
}

func (ss *streams) call(ctx context.Context, leaderID string, leader raft.ServerAddress, call []byte) ([]byte, error) {
	raw := msgpack.RawMessage(call)
	p := newPendingRequest(forwardedWrite{}, &raw)
	s, err := ss.get(ctx, leaderID, leader)
	if err != nil {
		return nil, fmt.Errorf("%w: forwarding to the leader: %w", ErrNotApplied, err)
	}
	if s.proto == streamProto {
		return nil, ErrStreamV1
	}
	a := s.roundTrip(ctx, p)
	if a.err != nil {
		return nil, a.err
	}
	return *a.res.C, nil
}
