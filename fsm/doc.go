// Package fsm is dobj's Raft finite-state machine. It decodes the versioned
// msgpack commands of the log, applies them to the objects' storage (package
// objects), remembers each Idempotency-Key's outcome until the leader's
// clock carried in the commands passes its expiry, keeps the members' HTTP
// addresses, and streams all of it to and from snapshots. The calls of
// SQLite-backed objects carry their writes as a statement log, which it
// re-runs on the object's database in Options.SQL (sql.go); snapshots
// stream those databases one at a time (sqlsnap.go).
//
// It never reads a clock, a random source or the network, and it walks
// every map in sorted order, so that every replica that applies the same
// log holds the same state. Package cluster feeds it; it knows nothing of
// HTTP.
package fsm
