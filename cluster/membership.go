package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// Join adds a voter (or updates its address) and publishes its HTTP
// address. On a follower it asks the leader on the peer service;
// ErrNotLeader when no leader is known, ErrBadMember without an id or a
// Raft address.
func (n *Node) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: join needs id and raft_addr", ErrBadMember)
	}
	if n.raft.State() != raft.Leader {
		_, addr := n.LeaderPeer()
		if addr == "" {
			return ErrNotLeader
		}
		return n.fwd.join(ctx, addr, joinRequest{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr})
	}
	member := false
	for _, s := range n.servers() {
		switch {
		case string(s.ID) == id && string(s.Address) == raftAddr:
			member = true
		case string(s.ID) == id || string(s.Address) == raftAddr:
			// The same id at a new address, or a new id at an old
			// address: the old entry goes first.
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return mapRaftError(err)
			}
		}
	}
	if !member {
		// A node the leader cannot reach over the peer port (down, or
		// without a certificate of the cluster's CA) would only be a
		// voter that never votes: refuse it before it counts.
		if err := n.reachable(ctx, raft.ServerAddress(raftAddr)); err != nil {
			return fmt.Errorf("%w: the new member's raft address %s: %w", ErrNotApplied, raftAddr, err)
		}
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return mapRaftError(err)
		}
		n.log.Info("member joined", "member", id, "raft_addr", raftAddr, "http_addr", httpAddr)
	}
	if httpAddr != "" && n.fsm.Members()[id] != httpAddr {
		return n.publishHTTPAddr(ctx, id, httpAddr)
	}
	if member {
		// Already in the latest configuration, which may not be
		// committed yet (an earlier join still in flight): answer once
		// an entry after it is, so a retried join is not told it
		// joined by a configuration a new leader may drop.
		return n.committedAfter(ctx)
	}
	return nil
}

// committedAfter returns once an entry proposed now is applied, and so
// everything before it in the log, configurations included, committed.
// A failure is outcome unknown for what came before it.
func (n *Node) committedAfter(ctx context.Context) error {
	if _, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindNoop}); err != nil {
		return fmt.Errorf("%w: the membership may not be committed yet: %w", ErrOutcomeUnknown, err)
	}
	return nil
}

// Remove takes a member out of the cluster. On a follower it asks the
// leader on the peer service; ErrNotLeader when no leader is known,
// ErrUnknownMember for an id that is not a member. The same remove again
// is safe: it finishes one that failed part-way (out of the
// configuration, its HTTP address still published), and is
// ErrUnknownMember, changing nothing, after one that was applied.
func (n *Node) Remove(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		_, addr := n.LeaderPeer()
		if addr == "" {
			return ErrNotLeader
		}
		return n.fwd.remove(ctx, addr, id)
	}
	if err := n.checkMember(id); err != nil {
		if errors.Is(err, ErrUnknownMember) && n.fsm.Members()[id] != "" {
			// A remove whose RemoveServer took effect and whose
			// answer, or the proposal forgetting the address, was
			// lost: forget the address now.
			_, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindRemoveMember, Member: fsm.Member{ID: id}})
			return err
		}
		return err
	}
	if id == n.cfg.ID {
		// A leader that removes itself steps down and, with Raft's
		// ShutdownOnRemove, stops: forget its address first, while it
		// still can.
		if _, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindRemoveMember, Member: fsm.Member{ID: id}}); err != nil {
			return err
		}
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return mapRaftError(err)
	}
	n.log.Info("member removed", "member", id)
	if id == n.cfg.ID {
		return nil
	}
	_, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindRemoveMember, Member: fsm.Member{ID: id}})
	return err
}

// checkMember returns ErrUnknownMember unless id is a server of the Raft
// configuration this node holds. Remove asks it first, because Raft's own
// RemoveServer commits a new configuration even for an id it does not
// have, and a client asking to remove a typo must learn that nothing
// happened.
func (n *Node) checkMember(id string) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		// Nothing was proposed yet: whatever failed, nothing changed.
		return fmt.Errorf("%w: read the configuration: %v", ErrNotApplied, err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(id) {
			return nil
		}
	}
	return fmt.Errorf("remove %q: %w", id, ErrUnknownMember)
}

// reachable dials the peer service at addr once.
func (n *Node) reachable(ctx context.Context, addr raft.ServerAddress) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := n.deps.Peers.DialPeer(ctx, addr)
	if err != nil {
		return err
	}
	return c.Close()
}
