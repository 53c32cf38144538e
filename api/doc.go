// Package api is dobj's HTTP server: the Echo routes of the HTTP contract
// (counters, storage, transactions, system routes), request validation,
// JSON canonicalization, problem+json errors and forwarding to the leader.
//
// It sits between HTTP clients and the cluster: it knows the Raft node only
// through the small Node interface declared here (which *cluster.Node
// satisfies), builds every write as one objects.Txn, and reads the
// *objects.Store only inside Node.Read. Names and keys are taken from the
// escaped request path and percent-decoded here, so "%2F" is part of a key.
//
// Writes and linearizable reads that land on a follower are proxied to the
// leader (header X-Dobj-Forwarded guards against loops). The split between
// 503 (definitely not applied) and 504 (outcome unknown) is kept through
// every path, including proxy failures: when it is unsure whether a write
// reached the leader, the answer is 504.
package api
