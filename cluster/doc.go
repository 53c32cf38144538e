// Package cluster runs a dobj node's Raft member: hashicorp/raft over TCP,
// raft-wal as log store (raft-boltdb/v2 for data directories that hold a
// bolt log) and raft-boltdb/v2 as stable store, a file snapshot store, and the
// FSM of package fsm. It bootstraps, joins and removes members, publishes
// each node's HTTP address through the log, proposes writes with a timeout
// whose failures say whether the write may still commit, and serves
// linearizable reads (a barrier after each election, then per read: commit
// index, shared leadership confirmation, wait for the FSM).
//
// It knows nothing of object hosting: package host runs class objects on
// it through a small interface, following leadership (OnLeadership),
// adding routes to the peer service (HandlePeer) and running the class
// calls followers send on their forwarding streams (HandleStreamCalls),
// which the node carries without reading them. Package api sits above
// both and knows each through small interfaces.
package cluster
