package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// forwarder is a follower's way to the leader, on the leader's peer
// service: writes and class calls on the forwarding stream
// (stream_follower.go, stream_calls.go), read
// indexes shared by the reads waiting at the same moment (the ReadIndex
// protocol of the Raft dissertation §6.4, as etcd serves follower reads:
// the follower then reads its own FSM once it has applied up to the
// index), joins and removals.
type forwarder struct {
	n      *Node
	client *peerClient

	// reads shares one read-index request among the reads waiting at
	// the same moment.
	reads rounds[uint64]

	streams streams
}

func newForwarder(n *Node) *forwarder {
	f := &forwarder{
		n:      n,
		client: newPeerClient(n.deps.Peers, 4),
		streams: streams{
			from:        n.cfg.ID,
			dial:        n.deps.Peers.DialPeer,
			retireAfter: n.cfg.ApplyTimeout + time.Second,
		},
	}
	// Until a host says how long its calls may take (HandleStreamCalls).
	f.streams.retireCallsAfter.Store(int64(f.streams.retireAfter))
	f.reads.call = f.fetchReadIndex
	return f
}

// write sends one write to the leader and waits for its outcome.
func (f *forwarder) write(ctx context.Context, leaderID string, leader raft.ServerAddress, w forwardedWrite) (objects.TxnResult, uint64, error) {
	r := f.streams.write(ctx, leaderID, leader, w)
	return r.Result.result(), r.Index, r.err()
}

// join asks the leader to add a member. A join the leader may have
// received is ErrOutcomeUnknown when its answer is lost: it may still be
// applied, and asking again is safe (a member's join is a no-op).
func (f *forwarder) join(ctx context.Context, leader raft.ServerAddress, req joinRequest) error {
	res, err := f.client.call(ctx, leader, pathJoin, &req)
	if err != nil {
		return sentError("join", err)
	}
	return res.err()
}

// sentError is the error of a command sent to the leader on the peer
// service that got no answer: not applied when no attempt wrote the
// request, else outcome unknown — the leader may have applied it, so
// the client must not be told it failed (a resend of these commands is
// safe, and says so).
func sentError(what string, err error) error {
	if errors.Is(err, errUnsent) {
		return fmt.Errorf("%w: %s via the leader: %w", ErrNotApplied, what, err)
	}
	return fmt.Errorf("%w: %s via the leader: %w", ErrOutcomeUnknown, what, err)
}

// remove asks the leader to remove a member. Asking again is safe, but
// unlike a join's, a repeat does not answer as the first one would have:
// after a remove that was applied it is ErrUnknownMember. So a remove
// the leader may have received is ErrOutcomeUnknown when its answer is
// lost, never ErrNotApplied, which would make that ErrUnknownMember read
// as "there never was such a member".
func (f *forwarder) remove(ctx context.Context, leader raft.ServerAddress, id string) error {
	res, err := f.client.call(ctx, leader, pathRemove, &removeRequest{ID: id})
	if err != nil {
		return sentError("remove", err)
	}
	return res.err()
}

// close ends the streams and the idle peer connections.
func (f *forwarder) close() {
	f.streams.closeAll(errShuttingDown)
	f.client.close()
}

// fetchReadIndex asks the leader known now for a read index.
func (f *forwarder) fetchReadIndex() (uint64, error) {
	_, leader := f.n.LeaderPeer()
	if leader == "" {
		return 0, ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.n.cfg.ApplyTimeout)
	defer cancel()
	res, err := f.client.call(ctx, leader, pathReadIndex, struct{}{})
	if err != nil {
		return 0, fmt.Errorf("%w: read index from the leader: %w", ErrNotApplied, err)
	}
	if err := res.err(); err != nil {
		return 0, err
	}
	return res.Index, nil
}
