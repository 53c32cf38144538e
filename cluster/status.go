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
// same log have the same digest at the same applied index. Commands
// that keep changing the SQL databases while they are hashed make it
// fsm.ErrDigestBusy.
func (n *Node) Digest() (apitypes.Digest, error) {
	d, applied, keys, err := n.fsm.Digest()
	if err != nil {
		return apitypes.Digest{}, err
	}
	return apitypes.Digest{Digest: d, AppliedIndex: applied, Keys: keys}, nil
}
