// Package cluster runs a dobj node's Raft member: hashicorp/raft over TCP,
// raft-wal as log store (raft-boltdb/v2 for data directories that hold a
// bolt log) and raft-boltdb/v2 as stable store, a file snapshot store, and the
// FSM of package fsm. It bootstraps, joins and removes members, publishes
// each node's HTTP address through the log, proposes writes with a timeout
// whose failures say whether the write may still commit, and serves
// linearizable reads (a barrier after each election, then per read: commit
// index, shared leadership confirmation, wait for the FSM).
//
// Package api sits above it and knows it through a small interface.
package cluster
