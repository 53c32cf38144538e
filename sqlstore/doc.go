// Package sqlstore keeps SQLite-backed objects: one SQLite database per
// object, on disk, written only through replicated, deterministic logs.
// It is the storage half of issue 22: the FSM (fsm/sql.go, fsm/sqlsnap.go)
// applies calls' logs and streams databases in snapshots, the object host
// (host/sql.go) runs leader sessions, and the JavaScript runtime's
// ctx.storage.sql and ctx.storage.kv (classes/sql.go) run on them. It
// imports nothing of the project.
//
// # The SQLite
//
// github.com/ncruces/go-sqlite3: SQLite compiled to WebAssembly and
// translated to Go (wasm2go), so `go build` stays free of cgo and needs
// no toolchain but Go. It was chosen over modernc.org/sqlite (also
// cgo-free) for the connection-level C API the design needs, which it
// wraps directly: an authorizer (Conn.SetAuthorizer) to enforce
// Cloudflare's restrictions on the parsed statement rather than on its
// text; sqlite3_limit per connection; scalar functions registered per
// connection (modernc registers them for the whole process, with no way
// to reach the connection's command from inside one), which is how
// random(), randomblob() and the date functions are made deterministic;
// the online backup API (snapshots used it before a handle locked its
// file; they copy the file now), serialize and deserialize (ext/serdes)
// if a later step wants them. Its session
// extension is not compiled in, nor modernc's reachable, which settles
// the replication design below. Its cost: each connection has its own
// WebAssembly memory (hence the bounded pool), and a call into SQLite is
// slower than native code; the benchmark in bench_test.go measures it.
//
// # Files and handles
//
// An object's database is Dir/<sha256 of its name>.db (store.go). Open
// handles are pooled, least recently used first out, while they are idle
// at most MaxOpen of them and MaxOpenBytes of their WebAssembly memory,
// which grows with the largest rows a database has held (memory.go), so
// a node with 10,000 objects keeps some hundreds open. The
// journal is WAL: commits append to the log instead of rewriting pages
// twice. A handle is the only connection to its database and locks it
// while open (locking_mode=EXCLUSIVE): the log's index lives in its
// memory, with no -shm file and no file lock taken per transaction.
// What reads a database beside it goes through it or copies the files
// under it: Freeze copies the file after a checkpoint, DigestCommitted
// copies the file and its log while a session holds the handle
// (committed.go). Nothing outside the store can read an open database's
// file; a copy of the file and its log can be read. synchronous=NORMAL: a
// commit may be lost by a power cut, never the database; Raft's log is
// what makes a command durable, and the last applied Raft index is
// stored in the same transaction as the command's writes (Apply), so a
// restarted node replays exactly what its files lack and no more.
//
// # Replication without divergence
//
// The rqlite way, not change sets: the leader runs a call's statements in
// a Session (session.go), inside a transaction, so the JavaScript gets
// each result at once; every statement that changed something is logged
// with its bindings; the session then rolls back. The log and the values
// the leader fixed (Env: a seed and the call's time) make the Raft
// command, and every replica, the leader included, runs it with Apply
// (apply.go) in one transaction, in the FSM's order, all or nothing.
// Change sets were not an option (no session extension in either pure-Go
// SQLite) and would miss schema changes and rowid-less replay anyway.
//
// What could differ between replicas is fixed on each connection
// (funcs.go): random() and randomblob() draw from a PCG stream seeded by
// Env.Seed and the statement's place in the log; the date and time
// functions (date, time, datetime, julianday, unixepoch, strftime,
// timediff, and CURRENT_DATE, CURRENT_TIME and CURRENT_TIMESTAMP, which
// SQLite's parser turns into calls of functions so named, column defaults
// included) are overridden so that 'now' is Env.Now, evaluated by the
// built-ins on a helper connection once 'now' is replaced; 'localtime' and
// 'utc' are dropped, so every node computes in UTC whatever its time zone.
// The overrides are not marked deterministic, so, like 'now' in SQLite,
// they may not appear in CHECK constraints, indexes or generated columns.
// Rowids and AUTOINCREMENT follow from the state, the same everywhere;
// the one exception is a rowid table whose largest rowid is already
// 9223372036854775807, where SQLite picks a random free rowid (with
// AUTOINCREMENT it fails instead) — left as a known gap.
// A write that fails in a session changes nothing (it runs in a
// savepoint, or, the transaction's first write, it undoes the
// transaction), so the log holds only writes that took effect; one that fails
// on replay (it cannot, but for a bug) fails the whole command
// (ErrDiverged) on every replica alike, and the database remembers it
// (diverged.go) so that the command fails again if it is met again over
// a database that holds later commands. A failure of the node itself
// (I/O, a full disk) is not ErrDiverged. The database size limit is the
// leader's to enforce: a file's page count depends on its history, which
// replicas do not share.
//
// transactionSync() and storage.transaction() nest as a session's
// Savepoint, Release and RollbackTo (savepoint.go), logged so that
// replay opens and releases the same savepoints; a rolled-back one takes
// its writes out of the log, which is what SQLite's ROLLBACK TO did to
// the database.
//
// A session holds its object's handle until Rollback: the host must begin
// one only when the commands it proposed for the object earlier have been
// applied, and must not keep one open across a wait for its own commit.
// It opens its transaction only when something needs SQLite (lazy.go): a
// call that only gets and puts key-value pairs, such as the seed's
// counter, reads from a small cache of committed pairs that Apply keeps
// current, keeps its writes in the log, and never begins one on the
// leader; the log, and so what every replica applies, is the same.
//
// # Cloudflare's restrictions
//
// Enforced by the authorizer (auth.go), with errors that say why and wrap
// ErrRefused: no ATTACH or DETACH; no BEGIN, COMMIT, ROLLBACK or
// SAVEPOINT (a call is one transaction; transactionSync groups); PRAGMAs
// from an allow-list (introspection and the foreign-key switches); no
// _cf_ table but through the key-value API; no temporary objects, which
// live in one connection and would not replicate. Limits (store.go) are
// SQLite's own per-connection limits, errors wrapping ErrLimit; the size
// limit is max_page_count, set by a session and left set (so that a
// leader's calls do not set it twice each); Apply runs a log that failed
// under it again without it. One limit is dobj's own: a session reads a
// statement's rows to the end before its caller gets any, so what they
// may hold is bounded (ResultBytes; a key-value List too), and a
// statement past it fails with ErrLimit, a write undone as any failed
// write is. Replay keeps no rows at all, so the limit is the leader's
// alone, like the size limit.
//
// # Key-value storage and snapshots
//
// The key-value API (kv.go) is the _cf_KV table of the same database,
// logged like SQL, so one transaction holds a call's SQL and key-value
// writes. Snapshots (snapshot.go): Freeze copies one object's file at
// its state then, WriteTo streams the copy, and Install puts a streamed
// database in place; Digest hashes an object's
// logical state for dobj check. Operators read with Query (query.go): one
// bounded statement in a BeginRead session, never creating a database
// (Exists).
//
// Because each database records the Raft index it has applied and Apply
// skips what a database already holds, a snapshot need not freeze every
// object at the snapshot's index, nor copy any. The FSM's own snapshots
// refer to each database by name and the position it durably holds
// (Durable), so a snapshot file does not grow with the data; the bytes
// are streamed only when a snapshot leaves the node (a backup, or one
// sent to a follower), one object at a time, each at its state then (at
// or after the index), each object's commands waiting only while its file is copied. Restoring it
// and replaying the log after the snapshot's index brings every database
// to the same state, commands an object already holds skipped. A node
// restoring its own snapshot (a restart) opens none of the databases,
// an open costing milliseconds: Expect (expect.go) records the position
// each must hold, checked when it is first opened, before anything uses
// it; one behind (a lost or replaced file) fails every use with
// ErrBehind until a streamed database replaces it.
package sqlstore
