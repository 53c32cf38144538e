package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// Read calls fn with the state. Linearizable reads follow the ReadIndex
// order of the Raft dissertation §6.4: the leader's barrier after an
// election, then capture the commit index, confirm leadership with a round
// of heartbeats started after the capture, wait for the FSM to apply up to
// the captured index, and read. A follower gets that index from the leader
// (one call shared by the reads waiting at that moment), waits for its own
// FSM, and reads locally. Stale reads use the local FSM with no wait. It
// returns the index the read saw; ErrNotLeader when no leader is known.
func (n *Node) Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error) {
	if !linearizable || n.cfg.bug(BugStaleReads) {
		index := n.fsm.LastApplied()
		n.fsm.Read(fn)
		return index, nil
	}
	index, err := n.linearizableIndex(ctx)
	if err != nil {
		return 0, readError(err)
	}
	if err := n.fsm.WaitApplied(ctx, index); err != nil {
		return 0, readError(err)
	}
	n.fsm.Read(fn)
	return index, nil
}

// linearizableIndex is the index a read starting now must see: the
// leader's own, or one asked of the leader. A leader that has just lost
// its leadership asks the new leader.
func (n *Node) linearizableIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		index, err := n.readIndex(ctx)
		if !errors.Is(readError(err), ErrNotLeader) {
			return index, err
		}
	}
	if _, addr := n.LeaderPeer(); addr == "" || addr == raft.ServerAddress(n.cfg.AdvertiseRaft) {
		return 0, ErrNotLeader
	}
	return n.fwd.reads.join(ctx) // asks the leader known when its round starts
}

// readIndex is the leader's part of a linearizable read: the index that a
// read starting now must see.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	if _, err := n.readBarrier(ctx); err != nil {
		return 0, err
	}
	index := n.raft.CommitIndex()
	if _, err := n.verifier.join(ctx); err != nil {
		return 0, err
	}
	// The index and the confirmation must belong to the term whose
	// barrier passed: a leader deposed and re-elected in between would
	// otherwise vouch for an index of a term it did not check.
	if n.raft.CurrentTerm() != term || n.barrierTerm.Load() != term {
		return 0, ErrNotLeader
	}
	return index, nil
}

// readBarrier makes sure that, in the current term, this leader has
// committed and applied an entry of its own, so that its commit index
// covers every entry of earlier terms and the FSM sees every later one.
func (n *Node) readBarrier(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() == term {
		return term, nil
	}
	n.barrierMu.Lock()
	defer n.barrierMu.Unlock()
	if n.barrierTerm.Load() == term {
		return term, nil
	}
	if _, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindNoop}); err != nil {
		return 0, err
	}
	n.barrierTerm.Store(term)
	return term, nil
}

// readError maps a failed read's cause: a read changes nothing, so every
// failure is "not applied", and a lost leadership is ErrNotLeader so that
// the caller may ask the new leader.
func readError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return ErrNotLeader
	case errors.Is(err, ErrNotApplied):
		return err
	case errors.Is(err, ErrOutcomeUnknown):
		// The barrier's no-op may still commit, but the read changed
		// nothing: not applied, and not wrapping "unknown".
		return fmt.Errorf("%w: read barrier: %v", ErrNotApplied, err)
	default:
		return fmt.Errorf("%w: %w", ErrNotApplied, err)
	}
}

// Ready reports whether a leader is known with the HTTP address clients
// are sent to, this node's own HTTP address is published, and it has
// applied everything it knows to be committed (for a leader: its read
// barrier).
func (n *Node) Ready() bool {
	if n.cfg.HTTPAddr != "" {
		if _, addr := n.Leader(); addr == "" || n.fsm.Members()[n.cfg.ID] != n.cfg.HTTPAddr {
			return false
		}
	}
	if n.raft.State() == raft.Leader {
		return n.barrierTerm.Load() == n.raft.CurrentTerm()
	}
	if addr, _ := n.raft.LeaderWithID(); addr == "" {
		return false
	}
	commit := n.raft.CommitIndex()
	return commit > 0 && n.raft.AppliedIndex() >= commit
}
