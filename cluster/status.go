package cluster

import "strings"

// Status is a node's view of the cluster, as GET /_cluster/status shows it.
type Status struct {
	ID           string     `json:"id"`
	State        string     `json:"state"` // leader, follower, candidate, shutdown
	Leader       LeaderInfo `json:"leader"`
	Term         uint64     `json:"term"`
	CommitIndex  uint64     `json:"commit_index"`
	AppliedIndex uint64     `json:"applied_index"`
	LogStore     string     `json:"log_store"` // this node's Raft log: wal or bolt
	Members      []Member   `json:"members"`
	// PID and LogFile are the serving process's, filled in by the API:
	// LogFile is "" when the log goes to stderr only.
	PID     int    `json:"pid"`
	LogFile string `json:"log_file"`
}

// LeaderInfo names the leader this node knows of; empty when none.
type LeaderInfo struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
}

// Member is one server of the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
	Suffrage string `json:"suffrage"`
}

// Digest fingerprints this node's state machine: nodes that applied the same
// log have the same digest at the same applied index.
type Digest struct {
	Digest       string `json:"digest"` // hex sha256 over every object's entries
	AppliedIndex uint64 `json:"applied_index"`
	Keys         int    `json:"keys"`
}

// Status reports this node's view of the cluster.
func (n *Node) Status() Status {
	lid, laddr := n.Leader()
	http := n.fsm.Members()
	st := Status{
		ID:           n.cfg.ID,
		State:        strings.ToLower(n.raft.State().String()),
		Leader:       LeaderInfo{ID: lid, HTTPAddr: laddr},
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.LastApplied(),
		LogStore:     n.deps.LogStoreKind,
		Members:      []Member{},
	}
	for _, s := range n.servers() {
		st.Members = append(st.Members, Member{
			ID:       string(s.ID),
			RaftAddr: string(s.Address),
			HTTPAddr: http[string(s.ID)],
			Suffrage: strings.ToLower(s.Suffrage.String()),
		})
	}
	return st
}

// Digest fingerprints this node's state machine.
func (n *Node) Digest() Digest {
	d, applied, keys := n.fsm.Digest()
	return Digest{Digest: d, AppliedIndex: applied, Keys: keys}
}
