// Package api is dobj's HTTP server: the Echo routes of the HTTP contract
// (counters, storage, transactions, object classes, watches, system
// routes, metrics, the web console), request validation, JSON
// canonicalization, authentication and problem+json errors.
//
// It sits between HTTP clients and the cluster: it knows the Raft node only
// through the small Node interface declared here (which *cluster.Node
// satisfies) and the object host through Host (*host.Host), both
// required by New, builds every write as one objects.Txn, and reads the
// *objects.Store only inside Node.Read. Names and keys are taken from the
// escaped request path and percent-decoded here, so "%2F" is part of a key.
//
// A follower takes writes, reads and calls to the leader itself, on the
// cluster's peer service; this package never proxies. The split between
// 503 (definitely not applied) and 504 (outcome unknown) is decided in one
// table (errors.go): an error that may still commit is 504, whatever else
// it wraps.
package api
