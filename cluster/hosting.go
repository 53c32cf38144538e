package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// What a subsystem above the node (the object host, package host) uses of
// it: leadership and its changes, the read barrier, proposals, the FSM,
// and routes of its own on the peer service. The node names none of its
// users: they subscribe, as hashicorp/raft's observers and rqlite's
// RegisterLeaderChange let a subsystem follow leadership.

// ErrStreamV1: the leader speaks only forwarding-stream version /1, which
// carries no calls; nothing was sent (the caller posts the call itself).
var ErrStreamV1 = errors.New("the leader's forwarding stream carries no calls")

// FSM is the node's state machine, to read its state (applied locally;
// linearizable after Barrier on the leader).
func (n *Node) FSM() *fsm.Machine { return n.fsm }

// Term is Raft's current term on this node.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Barrier makes sure the leader has committed and applied an entry of its
// own term (once a term), so that its FSM holds every write acknowledged
// before; it returns that term. Errors: ErrNotLeader when leadership was
// lost, ErrNotApplied otherwise (a barrier changes nothing a caller made).
func (n *Node) Barrier(ctx context.Context) (term uint64, err error) {
	term, err = n.readBarrier(ctx)
	return term, readError(err)
}

// VerifyLeader confirms that this node was still the leader at some point
// after the call began (one heartbeat round, shared by the callers waiting
// at that moment). Errors as Barrier's.
func (n *Node) VerifyLeader(ctx context.Context) error {
	_, err := n.verifier.join(ctx)
	return readError(err)
}

// Propose commits cmd through the group-commit proposer and returns the
// FSM's response and the entry's index. Errors: ErrNotLeader (never
// appended), ErrNotApplied, ErrOutcomeUnknown, as for Write.
func (n *Node) Propose(ctx context.Context, cmd *fsm.Command) (any, uint64, error) {
	if !n.IsLeader() {
		return nil, 0, ErrNotLeader
	}
	return n.propose(ctx, cmd)
}

// OnLeadership subscribes fn to this node's leadership changes: it is
// called with true on becoming the leader and false on losing it, in
// order, from the goroutine that follows leadership (fn must not block).
func (n *Node) OnLeadership(fn func(isLeader bool)) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	n.leadershipSubs = append(n.leadershipSubs, fn)
}

// leadershipChanged tells the subscribers.
func (n *Node) leadershipChanged(isLeader bool) {
	n.subsMu.Lock()
	subs := n.leadershipSubs
	n.subsMu.Unlock()
	for _, fn := range subs {
		fn(isLeader)
	}
}

// HandlePeer serves h at pattern (http.ServeMux's) on this node's peer
// service, beside the node's own routes (wire.go).
func (n *Node) HandlePeer(pattern string, h http.Handler) { n.peerMux.Handle(pattern, h) }

// DialPeer opens a connection to another node's peer service.
func (n *Node) DialPeer(ctx context.Context, addr raft.ServerAddress) (net.Conn, error) {
	return n.deps.Peers.DialPeer(ctx, addr)
}

// ServeOnlyStreamV1 makes this node serve the forwarding stream as a
// build before /2 did, for tests of a cluster upgraded one node at a
// time: followers then send their calls as requests of their own.
func (n *Node) ServeOnlyStreamV1(on bool) { n.peer.refuseStreamV2.Store(on) }

// TransferLeadership hands this leader's leadership to another voter
// (Raft's leadership transfer) and waits for it.
func (n *Node) TransferLeadership() error { return n.raft.LeadershipTransfer().Error() }
