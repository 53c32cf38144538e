package cluster

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// Class calls on the forwarding stream (protocol /2, see wire.go). One
// POST per call cost a request's parsing and a pooled connection each
// way, and held a connection per call in flight; on the stream a call is
// a frame among the writes, and the answers of many go in one flush.
//
// A call runs JavaScript and waits for its object's input gate and for
// Raft, so the leader runs each in its own goroutine rather than on the
// stream's reader, which must keep reading writes; streamCalls bounds how
// many one stream may have running, so that a follower cannot make the
// leader start goroutines without bound: when all are taken the reader
// waits, and the follower's frames wait in the connection's buffers.

// maxStreamCalls bounds the calls one stream may have running on the
// leader. A follower forwards at most the calls its clients have in
// flight; with the API's body limit (1 MiB) it bounds what one stream's
// calls hold too.
const maxStreamCalls = 256

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
// goroutine, once a slot is free, and pushes its answer to out. size is
// the frame's length: a call is bounded as a POST on pathCall is, and one
// over the bound is answered not applied without running. It reports
// false if the stream stopped while it waited for a slot.
func (n *Node) startStreamCall(calls *streamCalls, id uint64, fc *forwardedCall, size int64, out *resultQueue) bool {
	if size > maxForwardedCallBytes {
		r := callResultOf(nil, fmt.Errorf("%w: forwarded call of %d bytes, over the limit of %d", ErrNotApplied, size, maxForwardedCallBytes))
		out.push(streamResultV2{ID: id, C: &r})
		return true
	}
	select {
	case calls.slots <- struct{}{}:
	case <-calls.stopped:
		return false
	}
	n.peer.callsOnStream.Add(1)
	go func() {
		defer func() { <-calls.slots }()
		// The call goes on if the stream breaks, as a write does: the
		// follower has reported its outcome unknown.
		r := n.runForwardedCall(context.Background(), fc)
		out.push(streamResultV2{ID: id, C: &r})
	}()
	return true
}

// call sends fc on the stream to the leader and waits for its outcome,
// as write does for a write: not applied when the leader cannot have
// seen it, outcome unknown once it may have. ok is false, with nothing
// sent, when the leader speaks only /1: the caller posts the call.
func (ss *streams) call(ctx context.Context, leaderID string, leader raft.ServerAddress, fc *forwardedCall) (res forwardedCallResult, ok bool) {
	p := newPendingRequest(forwardedWrite{}, fc)
	s, err := ss.get(ctx, leaderID, leader)
	if err != nil {
		return *p.failed(fmt.Errorf("%w: forwarding to the leader: %w", ErrNotApplied, err)).C, true
	}
	if s.proto == streamProto {
		return forwardedCallResult{}, false
	}
	return *s.roundTrip(ctx, p).C, true
}
