package cluster

import "github.com/hashicorp/go-hclog"

// newHCLogger is the logger hashicorp's libraries (Raft, its transport,
// snapshots, raft-wal) write to, named name, with the node id on every
// line.
func newHCLogger(cfg Config, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:            name,
		Level:           hclog.LevelFromString(cfg.LogLevel),
		Output:          cfg.LogOutput,
		JSONFormat:      true,
		IncludeLocation: false,
	}).With("node_id", cfg.ID) // Raft puts a "node" of its own on some lines
}
