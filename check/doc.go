// Package check is dobj's Jepsen-style linearizability checker, the code
// behind `dobj check`. It starts a three-process cluster of the dobj binary
// (or attaches to running nodes), runs concurrent clients against every
// node while a nemesis kills, pauses and partitions nodes, records every
// operation with its call and return times, and then checks:
//
//   - the history of registers and counters with porcupine (models in
//     model.go, partitioned by object and key);
//   - that an increment re-sent with the same Idempotency-Key returns the
//     first answer (idempotency.go);
//   - that every acknowledged set add survives and no add answered with a
//     definite failure appears (set.go);
//   - that after the faults heal every node's state digest converges.
//
// Files: check.go (Run and its phases), nodes.go (each node's clients,
// readiness, convergence), nodes_launch.go (the three `dobj serve`
// processes, started through package launch), nemesis.go (the faults),
// workload.go (the clients), classwork.go (the workloads through an object
// class), workerwork.go and workerapp/ (through a deployed Worker's RPCs,
// on the nodes' Worker listeners at base+51..53), sqlwork.go and sqlapp/
// (through an SQLite-backed class's SQL tables), idempotency.go and set.go (their checks), history.go (the
// record), model.go (porcupine), progress.go (the progress line),
// report.go (verdict, counts, visualization). It knows the server only
// through the client package, the binary's flags, launch, and (for the
// Worker) package project, which bundles workerapp as dobj deploy does.
package check
