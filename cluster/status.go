package cluster

import (
	"strings"

	"github.com/dobj/dobj/apitypes"
)

// Status reports this node's view of the cluster.
func (n *Node) Status() apitypes.Status {
	lid, laddr := n.Leader()
	http := n.fsm.Members()
	st := apitypes.Status{
		ID:           n.cfg.ID,
		State:        strings.ToLower(n.raft.State().String()),
		Leader:       apitypes.LeaderInfo{ID: lid, HTTPAddr: laddr},
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.LastApplied(),
		LogStore:     n.deps.LogStoreKind,
		Members:      []apitypes.Member{},
	}
	for _, s := range n.servers() {
		st.Members = append(st.Members, apitypes.Member{
			ID:       string(s.ID),
			RaftAddr: string(s.Address),
			HTTPAddr: http[string(s.ID)],
			Suffrage: strings.ToLower(s.Suffrage.String()),
		})
	}
	return st
}

// Digest fingerprints this node's state machine: nodes that applied the
// same log have the same digest at the same applied index.
func (n *Node) Digest() apitypes.Digest {
	d, applied, keys := n.fsm.Digest()
	return apitypes.Digest{Digest: d, AppliedIndex: applied, Keys: keys}
}
