package host

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// Raft is what the host needs of its Raft node; *cluster.Node has it.
// Errors are cluster's: ErrNotLeader, ErrNotApplied (never appended or
// nothing changed) and ErrOutcomeUnknown (may still commit).
type Raft interface {
	Leadership
	Log
	Peers
	// DeployClass and DeleteClass change the class registry through
	// Raft (a follower asks the leader); CheckClasses registers the
	// leader's check of the classes followers send.
	DeployClass(ctx context.Context, name, lang string, source []byte) (uint64, error)
	DeleteClass(ctx context.Context, name string) (bool, error)
	CheckClasses(check cluster.ClassCheck)
}

// Leadership is the node's leadership and its changes.
type Leadership interface {
	IsLeader() bool
	// Term is Raft's current term.
	Term() uint64
	// Barrier returns once the leader's FSM holds every write
	// acknowledged before, with the term it did so for.
	Barrier(ctx context.Context) (term uint64, err error)
	// VerifyLeader confirms leadership at a point after it was called.
	VerifyLeader(ctx context.Context) error
	// OnLeadership subscribes to leadership changes (true: became
	// leader); the subscriber must not block.
	OnLeadership(fn func(isLeader bool))
}

// Log is the replicated state: proposals and the state machine.
type Log interface {
	// Propose commits cmd and returns the FSM's response and the index.
	Propose(ctx context.Context, cmd *fsm.Command) (any, uint64, error)
	FSM() *fsm.Machine
	// Read runs fn on the state; linearizable, once this node's FSM holds
	// every write committed before the call (a follower asks the leader
	// for its commit index).
	Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error)
}

// Peers is the node's peer service: the host's routes on it, the calls it
// carries on followers' forwarding streams, and connections to the
// leader's.
type Peers interface {
	HandlePeer(pattern string, h http.Handler)
	HandleStreamCalls(h cluster.StreamCallHandler, timeout time.Duration)
	// StreamCall returns cluster.ErrStreamV1, with nothing sent, when
	// the leader's stream carries no calls.
	StreamCall(ctx context.Context, leaderID string, leader raft.ServerAddress, call []byte) ([]byte, error)
	// LeaderPeer is the leader's id and peer address; the address is
	// empty when no leader is known or it is cut off.
	LeaderPeer() (id string, addr raft.ServerAddress)
	DialPeer(ctx context.Context, addr raft.ServerAddress) (net.Conn, error)
}

var _ Raft = (*cluster.Node)(nil)
