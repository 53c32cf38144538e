package cluster

import (
	"io"
	"log/slog"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/metrics"
)

// Peer is one server of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
}

// Known bugs that Config.Bugs can switch on. They exist only to show that
// dobj check catches them; serve refuses them without an explicit flag.
const (
	BugStaleReads      = "stale-reads"       // linearizable reads served from the local FSM, on any node
	BugAckBeforeCommit = "ack-before-commit" // writes answered before they commit
	BugNoIdempotency   = "no-idempotency"    // Idempotency-Keys ignored
)

// Config is what Open needs to start a node.
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

	Logger *slog.Logger
	// LogOutput receives Raft's own log lines as JSON (default: discarded).
	LogOutput io.Writer
	LogLevel  string // Raft's log level: debug, info, warn, error

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

func (c *Config) bug(name string) bool {
	for _, b := range c.Bugs {
		if b == name {
			return true
		}
	}
	return false
}

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
		c.ApplyTimeout = 5 * time.Second
	}
	if c.IdempotencyWindow == 0 {
		c.IdempotencyWindow = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LogOutput == nil {
		c.LogOutput = io.Discard
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
}
