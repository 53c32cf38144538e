// Package apitypes holds the JSON bodies of dobj's HTTP API that the server
// and the Go client both use: the cluster status, the state digest and
// the bodies of the /_scripts routes (scripts.go). It imports nothing of
// the project, so a program that only talks HTTP (the client, the CLI
// verbs, the checker) links neither Raft, bbolt, goja nor esbuild. The
// server's cluster and api packages fill these types; client decodes them.
package apitypes

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

// Digest fingerprints a node's state machine, as GET /_cluster/digest shows
// it: nodes that applied the same log have the same digest at the same
// applied index. A node whose SQL databases kept changing while it
// hashed them answers 503 (retry) instead.
type Digest struct {
	Digest       string `json:"digest"` // hex sha256 over every object's entries
	AppliedIndex uint64 `json:"applied_index"`
	Keys         int    `json:"keys"`
}
