// Package config holds every setting of `dobj serve`, their defaults, how
// they are loaded (flags, then DOBJ_* environment variables, then an
// optional JSON file) and their validation. cmd/dobj turns a Config into
// cluster.Config and api.Config. The limits' defaults are the packages'
// that enforce them (objects, classes), so this package imports those two
// and nothing else of the project.
package config

import (
	"log/slog"
	"strings"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/objects"
)

// Peer is one member of the initial cluster given with --peers.
type Peer struct {
	ID       string
	RaftAddr string
}

// Known bugs that --unsafe-bug can switch on (the names cluster.Config.Bugs
// understands). They exist only so that `dobj check` can show it catches
// them; Load refuses them unless --unsafe-allow-bugs is given too.
const (
	BugStaleReads      = "stale-reads"
	BugAckBeforeCommit = "ack-before-commit"
	BugNoIdempotency   = "no-idempotency"
)

// MaxScriptBytesCap is the largest --max-script-bytes: what a leader
// accepts of a script a follower forwards.
const MaxScriptBytesCap = 64 << 20

// Config is every setting of one `dobj serve` process.
type Config struct {
	ID       string // this node's Raft server id
	DataDir  string // Raft log, stable store and snapshots; default data/<id>
	HTTPAddr string // API listen address; host 0.0.0.0, :: or "" is every interface
	RaftAddr string // Raft transport listen address, likewise

	// AdvertiseHTTP and AdvertiseRaft are the host:port the other nodes
	// reach this node's API and Raft transport at: a listen address such
	// as 0.0.0.0:8081 cannot be dialled from another host. Load defaults
	// them (see defaultAdvertise); port 0, allowed only when the listen
	// port is 0 too, stands for the port actually bound.
	AdvertiseHTTP string
	// HTTPHosts are more names the API answers to, comma-separated (a
	// proxy's): a node without tokens refuses a Host that is not an IP
	// address, localhost, one of its addresses or a member's.
	HTTPHosts     string
	AdvertiseRaft string

	// Peers is the initial cluster (bootstrapped once by a node without
	// state). Join is the URL of any running node to join instead. At most
	// one of them is set; with neither, the node waits to be joined.
	Peers []Peer
	Join  string

	// LogStore is the Raft log of a new data directory: "wal" or "bolt".
	// Empty: what the data directory holds, else wal.
	LogStore string
	// WALSegmentBytes is the size of each of the wal's segment files. The
	// log is freed a whole segment at a time, so a lagging node catches up
	// from the log, not a snapshot, while what it lacks is still in one.
	WALSegmentBytes int
	// SQLMaxDatabaseBytes bounds the database of each SQLite-backed
	// object (Cloudflare's 10 GB by default): past it, its writes fail
	// with an error naming the limit, and reads go on.
	SQLMaxDatabaseBytes int64
	// SQLMaxResultBytes bounds what one statement's result (or a
	// key-value list) of a SQLite-backed object may hold in the node's
	// memory: past it the statement fails with an error naming the limit.
	SQLMaxResultBytes int64
	// SQLOpenDatabases and SQLOpenBytes bound the SQLite-backed objects'
	// databases a node keeps open, in number and in memory; a call of an
	// object whose database was closed opens it again, which costs far
	// more than the call's statements. Each open one holds 0.5 MB of
	// memory, more once large rows have passed through it.
	SQLOpenDatabases int
	SQLOpenBytes     int64

	SnapshotThreshold uint64        // log entries between snapshots
	TrailingLogs      uint64        // log entries kept after a snapshot
	SnapshotInterval  time.Duration // how often Raft checks whether to snapshot
	ApplyTimeout      time.Duration // how long a write waits before answering 504
	IdempotencyWindow time.Duration // how long an Idempotency-Key is remembered

	MaxBodyBytes  int64
	MaxNameBytes  int
	MaxKeyBytes   int
	MaxValueBytes int
	MaxListLimit  int

	// WatchHistory and WatchHistoryBytes bound the changes kept for
	// watches to resume from; WatchBuffer is how many events one watcher
	// may have waiting before it is cut off (and resumes).
	WatchHistory      int
	WatchHistoryBytes int64
	WatchBuffer       int
	MaxWatches        int // watch streams open at once on this node
	// MaxStreamsPerToken caps the watches and WebSockets one token holds
	// open on this node.
	MaxStreamsPerToken int

	// ClassCPULimit bounds the JavaScript time of one class call (issue
	// 14); a call over it answers 500 and commits nothing.
	ClassCPULimit time.Duration
	// ClassMaxInstances bounds the class object instances kept in memory
	// on the leader (0: the runtime's default); calls to an object without
	// one rebuild it from storage.
	ClassMaxInstances int
	// OutboundAllow are the hosts class code's global fetch may reach
	// (classes.Config.OutboundAllow); none by default.
	OutboundAllow []string
	// ClassRuntimes bounds the JavaScript runtimes the instances of one
	// class share on the leader (0: the runtime's default, the larger of 4
	// and the CPUs Go uses); it bounds how many of a class's calls run
	// JavaScript at once.
	ClassRuntimes int
	// MemoryLimit is the node's soft memory limit in bytes
	// (debug.SetMemoryLimit): nearing it, Go collects more often rather
	// than grow, so the bounds on classes and caches act before the
	// machine runs out; 0 leaves Go's own (GOMEMLIMIT, else none).
	MemoryLimit int64

	MaxTxnOps      int // ops (compares + success + failure) of one transaction
	MaxAnswerBytes int // largest answer; 0: max-txn-ops × (max-value-bytes + max-key-bytes + 64)
	MaxInFlight    int // requests served at once; past it, 429
	// MaxScriptBytes bounds a script upload (PUT /_scripts/<name>); 0 is
	// the API's default, 4 MiB. At most MaxScriptBytesCap.
	MaxScriptBytes int64

	// HTTP server timeouts: reading a whole request, writing a response
	// (from the end of the request's headers), and keeping an idle
	// connection. Node-to-node streams and backups lift them. The write
	// timeout in force is never less than the longest request needs to
	// answer (WriteTimeout).
	HTTPReadTimeout  time.Duration
	HTTPWriteTimeout time.Duration
	HTTPIdleTimeout  time.Duration

	// AuthFile holds the bearer tokens ("ROLE TOKEN" a line); empty: no
	// authentication. SIGHUP reloads it.
	AuthFile string
	// TLSCert and TLSKey serve the API over HTTPS (both or neither).
	TLSCert string
	TLSKey  string
	// TLSCA is the CA this node trusts for another node's API
	// certificate when serve --join asks it to add this node (default:
	// PeerTLSCA when set, else the system's roots).
	TLSCA string
	// PeerTLSCert, PeerTLSKey and PeerTLSCA make node-to-node traffic
	// mutual TLS (all three or none); pki.MutualTLS builds both sides.
	PeerTLSCert string
	PeerTLSKey  string
	PeerTLSCA   string
	// Insecure allows listening where other hosts can reach without the
	// credentials that guard each port: the API without authentication
	// and TLS, the Raft port without peer TLS, the profiler at all.
	Insecure bool

	LogLevel string // debug, info, warn, error
	// LogFormat is json or text; empty picks text when the log goes to
	// a terminal, json otherwise (a file, a pipe, a collector).
	LogFormat string
	// LogFile, when set, is where the log goes (appended) instead of
	// stderr; /_cluster/status names it.
	LogFile string

	// PprofAddr, when set, serves net/http/pprof there, apart from the API.
	PprofAddr string
	// WorkerAddr, when set, serves the deployed scripts' Workers there
	// (issue 20), apart from the API.
	WorkerAddr string
	// TestFaults enables POST /_test/partition (fault injection for tests
	// and `dobj check`). Never on in production.
	TestFaults bool
	// UnsafeBugs switches on known bugs by name (the Bug* constants);
	// UnsafeAllowBugs must be set as well.
	UnsafeBugs      []string
	UnsafeAllowBugs bool

	// File is the --config file the settings were read from, if any.
	File string
}

// Default returns a Config with every default filled in; ID and DataDir
// are left empty (DataDir defaults to data/<id> once the id is known).
func Default() Config {
	return Config{
		HTTPAddr:            "127.0.0.1:8081",
		RaftAddr:            "127.0.0.1:9081",
		WALSegmentBytes:     64 << 20,
		SQLMaxDatabaseBytes: 10 << 30,
		SQLMaxResultBytes:   64 << 20,
		SQLOpenDatabases:    4096,
		SQLOpenBytes:        640 << 20,
		SnapshotThreshold:   8192,
		TrailingLogs:        10240,
		SnapshotInterval:    30 * time.Second,
		ApplyTimeout:        5 * time.Second,
		IdempotencyWindow:   10 * time.Minute,
		MaxBodyBytes:        1 << 20,
		MaxNameBytes:        objects.DefaultMaxNameBytes,
		MaxKeyBytes:         objects.DefaultMaxKeyBytes,
		MaxValueBytes:       objects.DefaultMaxValueBytes,
		MaxListLimit:        1000,
		MaxTxnOps:           objects.DefaultMaxOps,
		MaxInFlight:         1024,
		HTTPReadTimeout:     30 * time.Second,
		HTTPWriteTimeout:    30 * time.Second,
		HTTPIdleTimeout:     2 * time.Minute,
		ClassCPULimit:       classes.DefaultCPULimit,
		WatchHistory:        100_000,
		WatchHistoryBytes:   64 << 20,
		WatchBuffer:         1024,
		MaxWatches:          10_000,
		MaxStreamsPerToken:  1000,
		LogLevel:            "info",
	}
}

// SlogLevel is LogLevel as a slog.Level (Validate has checked it).
func (c Config) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// writeMargin is what WriteTimeout leaves after the longest request's
// deadline for its answer to be written.
const writeMargin = 5 * time.Second

// RequestTimeout is the deadline of a request other than a class call: a
// write waits up to twice --apply-timeout (forwarded to the leader, then
// committed) before it answers 504.
func (c Config) RequestTimeout() time.Duration {
	return max(10*time.Second, 2*c.ApplyTimeout)
}

// CallTimeout is the deadline of a class call: its JavaScript for up to
// --class-cpu-limit, then its commit and, from a follower, the forwarding
// (--apply-timeout each), and a margin for the leader's queue. Past it
// the call answers 504.
func (c Config) CallTimeout() time.Duration {
	return c.ClassCPULimit + 2*c.ApplyTimeout + 5*time.Second
}

// WriteTimeout is the HTTP server's write timeout: --http-write-timeout,
// raised when the limits let a request run longer, so that every request
// can still write its answer (500 for a call stopped by the CPU limit,
// 504 when the outcome is unknown) instead of having its connection cut.
func (c Config) WriteTimeout() time.Duration {
	return max(c.HTTPWriteTimeout, c.CallTimeout()+writeMargin, c.RequestTimeout()+writeMargin)
}

// PeerTLS reports whether node-to-node traffic is mutual TLS.
func (c Config) PeerTLS() bool { return c.PeerTLSCert != "" }

// HostNames are the names the API answers to besides IP addresses,
// localhost and the members' addresses: the listen and advertised
// addresses and --http-hosts.
func (c Config) HostNames() []string {
	names := []string{c.HTTPAddr, c.AdvertiseHTTP}
	for _, h := range strings.Split(c.HTTPHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, h)
		}
	}
	return names
}

// TLS reports whether the API is served over HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }
