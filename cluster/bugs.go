package cluster

import (
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// Known bugs that Config.Bugs can switch on. They exist only to show that
// dobj check catches them; serve refuses them without an explicit flag.
const (
	BugStaleReads      = "stale-reads"       // linearizable reads served from the local FSM, on any node
	BugAckBeforeCommit = "ack-before-commit" // writes answered before they commit
	BugNoIdempotency   = "no-idempotency"    // Idempotency-Keys ignored
)

func (c *Config) bug(name string) bool {
	for _, b := range c.Bugs {
		if b == name {
			return true
		}
	}
	return false
}

// ackBeforeCommit is BugAckBeforeCommit: the result is computed on a copy
// of the local state and returned before the entry is even appended.
func (n *Node) ackBeforeCommit(cmd *fsm.Command) (objects.TxnResult, uint64, error) {
	s := n.fsm.CloneStore()
	res, err := s.Apply(cmd.Object, cmd.Txn)
	if data, encErr := fsm.Encode(cmd); encErr == nil {
		n.raft.Apply(data, time.Second)
	}
	return res, n.fsm.LastApplied(), err
}
