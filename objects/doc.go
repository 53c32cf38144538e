// Package objects is dobj's domain: every durable object's ordered key-value
// storage and the operations on it (counter, get, put, delete, delete-all,
// list, compare-then-ops transactions).
//
// It is pure and deterministic: no I/O, no clock, no randomness, no Raft.
// The same sequence of Apply calls gives the same Store (and the same Digest)
// on every node, which is what makes it a replicated state machine.
//
// Neighbours: fsm calls it (decoding committed commands, applying them under
// its own lock, snapshotting a Clone); api and client use its types (Txn, Op,
// Result, ListOptions). Each wire format has its own types converted at its
// edge (the Raft log's and snapshots' in fsm, the peer frames' in cluster
// and, for class calls, host, the HTTP API's in api), so these carry no
// msgpack names; their JSON
// (op_json.go) is what the Go client sends and reads. Nothing of the project sits below it; its only
// dependency is github.com/google/btree.
//
// A Store is not safe for concurrent writes: the caller serializes writes and
// may run reads concurrently with each other.
package objects
