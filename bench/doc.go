// Package bench is dobj's closed-loop load generator (`dobj bench`): a fixed
// number of clients each send one request, wait for its answer, and send the
// next, for a duration, over a mix of operations (increment, linearizable
// read, stale read, storage put, transaction) spread across many objects.
// It reports throughput, latency percentiles per operation (HDR histograms)
// and errors by HTTP status.
//
// It speaks HTTP directly rather than through the client package, with one
// pooled keep-alive transport and requests built with few allocations: on a
// small machine the generator shares the CPU with the servers it measures,
// and the same lean loop drives every target — dobj, etcd's HTTP/JSON
// gateway (/v3/kv/put, /v3/kv/range) for the comparison that compare.sh
// runs, and rqlite's /db/execute (rqlite.go) for rqlite.sh's comparison of
// SQL counter increments (sql.go, sqlapp/: an SQLite-backed class).
// sqlscale.sh runs the SQLite scale run with the sql-fill op.
// worker-increment and rpc-increment (workers.go, workerapp/: the seed's
// Counter as a Workers project) measure the seed's application through
// the Worker listeners and the same Counter called directly;
// workers.sh sets them beside class-increment, and workerd.sh beside the
// application on workerd (the app target).
//
// Without URLs it starts its own three-node cluster: the dobj binary's
// `serve` processes on loopback ports, data in a temporary directory, all
// stopped by PID when the run ends (see Local).
package bench
