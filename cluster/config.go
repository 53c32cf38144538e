package cluster

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
)

// Peer is one server of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
}

// Config is what Open and New need to start a node.
type Config struct {
	ID       string
	DataDir  string
	RaftAddr string // listen address of the Raft transport
	// AdvertiseRaft is where the other nodes reach the Raft transport: the
	// transport's LocalAddr, this node's own entry when bootstrapping and
	// what it sends when asking to join. Empty: the address bound, which
	// must then have a specific host (not 0.0.0.0 or ::). Port 0: the
	// port bound.
	AdvertiseRaft string
	HTTPAddr      string // the API address this node publishes to the others

	// Limits bound every write this node proposes, its own or one a
	// follower forwarded, as the API bounds the requests it takes: a peer
	// gets no more than a client (zero fields take the defaults).
	Limits objects.Limits

	// PeerServerTLS and PeerClientTLS, both or neither, make every
	// node-to-node connection (Raft and the peer service) mutual TLS:
	// the server side requires and verifies a client certificate, the
	// client side presents this node's and verifies the peer's.
	PeerServerTLS *tls.Config
	PeerClientTLS *tls.Config

	// Peers is the initial cluster, bootstrapped once by a node without
	// Raft state; a node with state ignores it. Empty: wait to be joined.
	Peers []Peer

	// LogStore is LogStoreWAL or LogStoreBolt, for a data directory that
	// has no Raft log yet; one that has keeps it, and asking for the other
	// fails with ErrLogStoreMismatch. Empty: what the directory holds, else
	// LogStoreWAL.
	LogStore string
	// WALSegmentBytes sizes the wal's segment files (0: raft-wal's 64 MiB).
	WALSegmentBytes int
	// SQLMaxDatabaseBytes bounds each SQLite-backed object's database
	// (0: sqlstore's default, Cloudflare's 10 GB).
	SQLMaxDatabaseBytes int64
	// SQLMaxResultBytes bounds one statement's result (0: sqlstore's
	// default, 64 MiB).
	SQLMaxResultBytes int64
	// SQLOpenDatabases and SQLOpenBytes bound the databases kept open,
	// in number and in memory (0: sqlstore's defaults).
	SQLOpenDatabases int
	SQLOpenBytes     int64

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// HeartbeatTimeout and ElectionTimeout default to Raft's (1s).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// ApplyTimeout bounds how long Write waits for its entry to commit and
	// apply before it gives up with ErrOutcomeUnknown.
	ApplyTimeout time.Duration
	// IdempotencyWindow is how long an Idempotency-Key is remembered.
	IdempotencyWindow time.Duration

	Logger   *slog.Logger
	LogLevel string // Raft's log level: debug, info, warn, error

	// Faults enables SetBlocked, for partition tests.
	Faults bool
	// Bugs switches on known bugs by name (see BugStaleReads and others).
	Bugs []string

	// Observer, if set, hears of every object change the FSM applies
	// (the watch hub).
	Observer fsm.Observer
	// Metrics, if set, records Raft's and the FSM's work.
	Metrics *metrics.Set
}

// Defaults of Config's timings, which the object host shares (a call's
// commit waits as a write does; its Idempotency-Key is kept as long).
const (
	DefaultApplyTimeout      = 5 * time.Second
	DefaultIdempotencyWindow = 10 * time.Minute
)

func (c *Config) setDefaults() {
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.IdempotencyWindow == 0 {
		c.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
}
