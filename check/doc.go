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
// Files: process.go (nodes as child processes, by PID), nemesis.go (the
// faults), workload.go (the clients), history.go (the record), model.go
// (porcupine), report.go (verdict, counts, visualization), check.go (Run).
// It knows the server only through the client package and the binary's
// flags.
package check
