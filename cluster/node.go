package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Deps are what a node runs on besides its Config: Raft's stores and
// transport and the network of the peer service. Open builds them on disk
// and TCP; tests build in-memory twins (NewInmemNetwork), as
// hashicorp/raft's own tests do.
type Deps struct {
	Logs   raft.LogStore
	Stable raft.StableStore
	Snaps  raft.SnapshotStore
	Trans  raft.Transport
	Peers  PeerNet
	// LogStoreKind names the log store for Status (wal, bolt, inmem).
	LogStoreKind string
	// SQL keeps SQLite-backed objects' databases (fsm.Options.SQL); Open
	// opens it under the data directory's sql/. A node without one (an
	// in-memory test node that did not ask for it) cannot apply their
	// calls.
	SQL *sqlstore.Store
	// Close releases the stores once Raft has shut down; may be nil.
	Close func() error
}

// Node is one dobj server's Raft member: it owns the Raft instance, the
// FSM, the group-commit proposer, the peer service and the follower's
// forwarder.
type Node struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	raft *raft.Raft
	fsm  *fsm.Machine
	prop proposer

	verifier *rounds[struct{}] // leadership confirmations
	fwd      *forwarder
	peer     *peerServer

	// barrierMu serializes the read barrier; barrierTerm is the term in
	// which this node, as leader, last committed and applied its no-op.
	barrierMu   sync.Mutex
	barrierTerm atomic.Uint64

	// blockedMu guards blocked (ids cut off by fault injection).
	blockedMu sync.Mutex
	blocked   map[string]bool

	// peerMux routes the peer service: the node's routes and those its
	// users add (HandlePeer).
	peerMux *http.ServeMux
	// streamCalls runs the class calls followers send on their streams
	// (HandleStreamCalls); nil until one is registered.
	streamCalls atomic.Pointer[StreamCallHandler]
	// classCheck checks the classes followers send (CheckClasses).
	classCheck atomic.Pointer[ClassCheck]

	// subsMu guards leadershipSubs (OnLeadership).
	subsMu         sync.Mutex
	leadershipSubs []func(isLeader bool)

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a node on deps: it bootstraps cfg.Peers if the stores hold
// no Raft state, starts Raft, serves the peer service and starts the loops
// that follow leadership and publish the node's HTTP address. On error
// deps are left for the caller to close.
func New(ctx context.Context, cfg Config, deps Deps) (*Node, error) {
	cfg.setDefaults()
	if cfg.ID == "" {
		return nil, errors.New("cluster: node id is required")
	}
	n := &Node{cfg: cfg, deps: deps, log: cfg.Logger, blocked: map[string]bool{}}
	n.cfg.AdvertiseRaft = string(deps.Trans.LocalAddr())
	n.fsm = fsm.New(fsm.Options{Logger: n.log, IgnoreIdempotency: cfg.bug(BugNoIdempotency), Observer: cfg.Observer, SQL: deps.SQL})

	rs, _ := deps.Snaps.(*refSnapshotStore)
	if rs != nil {
		rs.disarm() // NewRaft restores the node's own snapshot as it is
	}
	rc := n.raftConfig()
	if err := n.bootstrap(rc); err != nil {
		return nil, err
	}
	r, err := raft.NewRaft(rc, n.raftFSM(), deps.Logs, deps.Stable, deps.Snaps, deps.Trans)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	if rs != nil {
		rs.arm(n.fsm.Expand) // from now on Open is Raft sending to a follower
	}
	n.prop.apply = func(data []byte) raft.ApplyFuture { return r.Apply(data, time.Second) }
	n.prop.gatherFor = func(took time.Duration) time.Duration { return min(took, maxGather) }
	n.prop.observe = n.observeEntry
	n.verifier = &rounds[struct{}]{call: func() (struct{}, error) { return struct{}{}, r.VerifyLeader().Error() }}
	n.fwd = newForwarder(n)
	n.peerMux = n.peerRoutes()
	n.peer = n.servePeers(deps.Peers.PeerListener())

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.wg.Add(3)
	go n.watchLeadership(bg)
	go n.publishSelf(bg)
	go n.replaceSentSnapshots(bg)
	n.countLeaderChanges(bg)
	return n, nil
}

// commitTimeout is how long an idle leader waits before it sends its
// followers an append that tells them the commit index (Raft's 50 ms by
// default; heartbeats do not carry it). A follower's linearizable read
// waits until its state machine has applied the index the leader gave
// it, so a read through a follower right after a write through it waited
// for that append: 50-100 ms with Raft's default. bench/README.md has
// the figures that chose this.
const commitTimeout = 5 * time.Millisecond

// raftConfig is Raft's configuration for this node.
func (n *Node) raftConfig() *raft.Config {
	cfg := n.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = n.hclog("raft")
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.CommitTimeout = commitTimeout
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	return rc
}

// hclog is the logger hashicorp's libraries get, named name: Raft's lines
// in dobj's shape.
func (n *Node) hclog(name string) hclog.Logger {
	return newHCLogger(n.cfg.Logger, name, n.cfg.LogLevel)
}

// bootstrap writes the initial configuration of cfg.Peers into stores that
// hold no Raft state; a node with state ignores the peers.
func (n *Node) bootstrap(rc *raft.Config) error {
	d := n.deps
	hasState, err := raft.HasExistingState(d.Logs, d.Stable, d.Snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	if hasState {
		n.log.Info("found existing raft state; --peers ignored")
		return nil
	}
	if len(n.cfg.Peers) == 0 {
		return nil
	}
	var servers []raft.Server
	for _, p := range n.cfg.Peers {
		addr := p.RaftAddr
		if p.ID == n.cfg.ID {
			addr = n.cfg.AdvertiseRaft // the entry may say port 0
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
	}
	if err := raft.BootstrapCluster(rc, d.Logs, d.Stable, d.Snaps, d.Trans, raft.Configuration{Servers: servers}); err != nil {
		return fmt.Errorf("bootstrap cluster: %w", err)
	}
	n.log.Info("bootstrapped cluster", "peers", len(servers))
	return nil
}

// Close stops the node; a leader hands leadership over first so that the
// cluster does not wait an election timeout. It is safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.prop.close()
		n.peer.close()
		n.fwd.close()
		if n.raft.State() == raft.Leader && len(n.servers()) > 1 {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.log.Warn("leadership transfer before shutdown failed", "err", err)
			} else {
				n.log.Info("handed leadership over before shutdown")
			}
		}
		var errs []error
		if rs, ok := n.deps.Snaps.(*refSnapshotStore); ok {
			rs.halt() // a snapshot being expanded for a follower stops
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut raft down: %w", err))
		}
		n.wg.Wait()
		if !n.prop.wait(n.cfg.ApplyTimeout + time.Second) {
			n.log.Warn("closing with entries still in flight; their writers were told the outcome is unknown")
		}
		errs = append(errs, n.deps.Peers.Close())
		if c, ok := n.deps.Trans.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
		if n.deps.Close != nil {
			errs = append(errs, n.deps.Close())
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("raft node stopped")
	})
	return n.closeErr
}

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's id and HTTP address as this node knows them;
// either is empty when unknown. A leader cut off by fault injection is
// reported without its address, so nothing is forwarded to it.
func (n *Node) Leader() (id, httpAddr string) {
	_, lid := n.raft.LeaderWithID()
	id = string(lid)
	if id == "" || n.Blocked(id) {
		return id, ""
	}
	return id, n.fsm.Members()[id]
}

// LeaderPeer returns the leader's id and the address of its peer service
// (its Raft address); the address is empty when no leader is known or
// fault injection cuts it off.
func (n *Node) LeaderPeer() (id string, addr raft.ServerAddress) {
	addr, lid := n.raft.LeaderWithID()
	id = string(lid)
	if id == "" || n.Blocked(id) {
		return id, ""
	}
	return id, addr
}

// RaftAddr is the address the other nodes reach this node's Raft
// transport at (Config.AdvertiseRaft, with the port bound for port 0):
// the one to give Join.
func (n *Node) RaftAddr() string { return n.cfg.AdvertiseRaft }

func (n *Node) servers() []raft.Server {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}
