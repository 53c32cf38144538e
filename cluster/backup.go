package cluster

import (
	"context"

	"github.com/dobj/dobj/fsm"
)

// Backup captures the state at a linearizable point: it takes a read
// index as a linearizable read does (from the leader, on any node), waits
// until the FSM has applied it, and captures the state in constant time.
// Writes go on meanwhile; the capture holds every write acknowledged
// before Backup was called. Errors are those of Read.
func (n *Node) Backup(ctx context.Context) (*fsm.Capture, error) {
	index, err := n.linearizableIndex(ctx)
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
