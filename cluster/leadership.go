package cluster

import (
	"context"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// watchLeadership logs leadership changes, tells the subscribers
// (OnLeadership) and, on winning an election, runs the read barrier at
// once so that the first read does not wait.
func (n *Node) watchLeadership(ctx context.Context) {
	defer n.wg.Done()
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			n.leadershipChanged(isLeader)
			if !isLeader {
				n.log.Info("lost leadership", "term", n.raft.CurrentTerm())
				continue
			}
			n.log.Info("became leader", "term", n.raft.CurrentTerm())
			bctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
			if _, err := n.readBarrier(bctx); err != nil {
				n.log.Warn("read barrier after election failed", "err", err)
			}
			// Clients learn the leader's HTTP address from the FSM:
			// publish ours now rather than at publishSelf's next tick.
			if n.cfg.HTTPAddr != "" && n.fsm.Members()[n.cfg.ID] != n.cfg.HTTPAddr {
				if err := n.publishHTTPAddr(bctx, n.cfg.ID, n.cfg.HTTPAddr); err != nil {
					n.log.Warn("publishing http address after election failed", "err", err)
				}
			}
			cancel()
		}
	}
}

// publishSelf makes sure the FSM knows this node's HTTP address: the
// leader proposes it itself; a follower asks the leader to, on the peer
// service. It stops once the address is in the FSM.
func (n *Node) publishSelf(ctx context.Context) {
	defer n.wg.Done()
	if n.cfg.HTTPAddr == "" {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if n.fsm.Members()[n.cfg.ID] == n.cfg.HTTPAddr {
			n.log.Info("published http address", "http_addr", n.cfg.HTTPAddr)
			return
		}
		var err error
		if n.raft.State() == raft.Leader {
			err = n.publishHTTPAddr(ctx, n.cfg.ID, n.cfg.HTTPAddr)
		} else if _, addr := n.LeaderPeer(); addr != "" {
			err = n.fwd.join(ctx, addr, joinRequest{ID: n.cfg.ID, RaftAddr: n.cfg.AdvertiseRaft, HTTPAddr: n.cfg.HTTPAddr})
		}
		if err != nil {
			n.log.Debug("publishing http address", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publishHTTPAddr commits a member's HTTP address to the FSM.
func (n *Node) publishHTTPAddr(ctx context.Context, id, httpAddr string) error {
	_, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindSetMember, Member: fsm.Member{ID: id, HTTPAddr: httpAddr}})
	return err
}
