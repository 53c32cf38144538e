package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestReadIndexRefusesATermChange: a leader that loses leadership and
// wins it back between capturing the commit index and confirming
// leadership must not answer with the index of the old term (the interim
// leader may have committed entries after it). The confirmation round is
// made to do exactly that: hand leadership over and take it back.
func TestReadIndexRefusesATermChange(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	id := raft.ServerID(leader.cfg.ID)
	addr := raft.ServerAddress(leader.RaftAddr())
	if _, err := leader.readIndex(context.Background()); err != nil {
		t.Fatalf("read index of a steady leader: %v", err)
	}
	confirm := leader.verifier.call
	leader.verifier = &rounds[struct{}]{call: func() (struct{}, error) {
		if err := leader.raft.LeadershipTransfer().Error(); err != nil {
			return struct{}{}, err
		}
		var other *Node
		c.eventually(10*time.Second, "another leader", func() bool {
			for _, n := range c.nodes {
				if n != leader && n.IsLeader() {
					other = n
					return true
				}
			}
			return false
		})
		if err := other.raft.LeadershipTransferToServer(id, addr).Error(); err != nil {
			return struct{}{}, err
		}
		c.eventually(10*time.Second, "the first leader back and past its barrier", func() bool {
			return leader.IsLeader() && leader.Ready()
		})
		return confirm()
	}}
	_, err := leader.readIndex(context.Background())
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read index across a term change: err = %v, want ErrNotLeader", err)
	}
}
