package cluster

import (
	"context"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// Backup captures the state at a linearizable point: it takes a read
// index as a linearizable read does (from the leader, on any node), waits
// until the FSM has applied it, and captures the state in constant time.
// Writes go on meanwhile; the capture holds every write acknowledged
// before Backup was called. Errors are those of Read.
func (n *Node) Backup(ctx context.Context) (*fsm.Capture, error) {
	var index uint64
	var err error
	if n.raft.State() == raft.Leader {
		index, err = n.readIndex(ctx)
	} else if _, addr := n.Leader(); addr != "" {
		index, err = n.fwd.reads.join(ctx)
	} else {
		return nil, ErrNotLeader
	}
	if err != nil {
		return nil, readError(err)
	}
	if err := n.fsm.WaitApplied(ctx, index); err != nil {
		return nil, readError(err)
	}
	capture := n.fsm.Capture()
	n.log.Info("backup captured", "read_index", index, "applied_index", capture.Applied(), "keys", capture.Keys())
	return capture, nil
}
