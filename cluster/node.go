package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Node is one dobj server's Raft member: it owns the Raft instance, its
// log, stable and snapshot stores, the transport and the FSM.
type Node struct {
	cfg      Config
	log      *slog.Logger
	raft     *raft.Raft
	fsm      *fsm.Machine
	bolt     *raftboltdb.BoltStore // the stable store, and the log store if logStore.kind is bolt
	logStore *logStore
	trans    *raft.NetworkTransport
	layer    *streamLayer

	verifier *rounds[struct{}] // leadership confirmations
	fwd      *forwarder
	// leaderStreams are the forwarding streams followers opened to this
	// node (see serveStream).
	leaderStreams connSet

	// barrierMu serializes the read barrier; barrierTerm is the term in
	// which this node, as leader, last committed and applied its no-op.
	barrierMu   sync.Mutex
	barrierTerm atomic.Uint64

	// blockedMu guards blocked (ids cut off by fault injection).
	blockedMu sync.Mutex
	blocked   map[string]bool

	prop proposer

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts a node: it opens the stores under cfg.DataDir, listens on
// cfg.RaftAddr, advertises cfg.AdvertiseRaft, bootstraps cfg.Peers if the
// node has no Raft state, and starts the loop that publishes the node's
// HTTP address to the cluster.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.ID == "" {
		return nil, errors.New("cluster: node id is required")
	}
	badAdvertise := func(err error) error {
		return fmt.Errorf("raft address %s (set AdvertiseRaft to where peers reach it): %w", cfg.RaftAddr, err)
	}
	// An address the others cannot dial is refused before listening on it
	// or creating anything in the data directory; once listening, only a
	// port 0 is left to fill in.
	if _, err := AdvertisedAddr(cfg.AdvertiseRaft, advertisedAddr(cfg.RaftAddr)); errors.Is(err, ErrUnspecifiedHost) {
		return nil, badAdvertise(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, blocked: map[string]bool{}}
	hl := hclog.New(&hclog.LoggerOptions{
		Name:            "raft",
		Level:           hclog.LevelFromString(cfg.LogLevel),
		Output:          cfg.LogOutput,
		JSONFormat:      true,
		IncludeLocation: false,
	}).With("node_id", cfg.ID) // Raft puts a "node" of its own on some lines

	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout: time.Second, // another process holds the file: fail, don't hang
			// Skip writing the free-page list on every commit (it grows as
			// the log is compacted); bbolt rebuilds it on open. Every
			// commit is still fsynced.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", filepath.Join(cfg.DataDir, "raft.db"), err)
	}
	n.bolt = bolt
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hl.Named("snapshot"))
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("open snapshot store %s: %w", cfg.DataDir, err)
	}
	store, err := openLogStore(cfg.DataDir, cfg.LogStore, cfg.WALSegmentBytes, bolt, hl.Named("wal"))
	if err != nil {
		bolt.Close()
		return nil, err
	}
	n.logStore = store
	n.log.Info("opened raft log", "log_store", store.kind, "data_dir", cfg.DataDir)
	logs, err := raft.NewLogCache(1024, store.logs)
	if err != nil {
		n.closeLogs()
		return nil, fmt.Errorf("log cache: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		n.closeLogs()
		return nil, fmt.Errorf("listen on raft address %s: %w", cfg.RaftAddr, err)
	}
	advertise, err := AdvertisedAddr(cfg.AdvertiseRaft, ln.Addr())
	if err != nil {
		ln.Close()
		n.closeLogs()
		return nil, badAdvertise(err)
	}
	n.layer = newStreamLayer(ln, advertise)
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.layer,
		MaxPool: 5,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("net"),
	})
	n.cfg.AdvertiseRaft = string(n.trans.LocalAddr())

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hl
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}

	n.fsm = fsm.New(fsm.Options{Logger: n.log, IgnoreIdempotency: cfg.bug(BugNoIdempotency), Observer: cfg.Observer})

	hasState, err := raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	if !hasState && len(cfg.Peers) > 0 {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			addr := p.RaftAddr
			if p.ID == cfg.ID {
				addr = n.cfg.AdvertiseRaft // the entry may say port 0
			}
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
		}
		if err := raft.BootstrapCluster(rc, logs, bolt, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("bootstrap cluster: %w", err)
		}
		n.log.Info("bootstrapped cluster", "peers", len(servers))
	} else if hasState {
		n.log.Info("found existing raft state; --peers ignored")
	}

	r, err := raft.NewRaft(rc, n.raftFSM(), logs, bolt, snaps, n.trans)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	n.prop.apply = func(data []byte) raft.ApplyFuture { return r.Apply(data, time.Second) }
	n.prop.gatherFor = func(took time.Duration) time.Duration { return min(took, maxGather) }
	n.prop.observe = n.observeEntry
	n.verifier = &rounds[struct{}]{call: func() (struct{}, error) { return struct{}{}, r.VerifyLeader().Error() }}
	n.fwd = newForwarder(n)

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.wg.Add(2)
	go n.watchLeadership(bg)
	go n.publishSelf(bg)
	n.countLeaderChanges(bg)
	return n, nil
}

func (n *Node) closeStores() {
	n.trans.Close()
	n.closeLogs()
}

func (n *Node) closeLogs() {
	if err := n.logStore.close(); err != nil {
		n.log.Warn("close raft log", "err", err)
	}
	n.bolt.Close()
}

// Close stops the node; a leader hands leadership over first so that the
// cluster does not wait an election timeout. It is safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.prop.close()
		n.leaderStreams.closeAll()
		n.fwd.close()
		if n.raft.State() == raft.Leader && len(n.servers()) > 1 {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.log.Warn("leadership transfer before shutdown failed", "err", err)
			} else {
				n.log.Info("handed leadership over before shutdown")
			}
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			n.closeErr = fmt.Errorf("shut raft down: %w", err)
		}
		n.wg.Wait()
		n.prop.wait()
		n.closeStores()
		n.log.Info("raft node stopped")
	})
	return n.closeErr
}

// watchLeadership logs leadership changes and, on winning an election,
// runs the read barrier at once so that the first read does not wait.
func (n *Node) watchLeadership(ctx context.Context) {
	defer n.wg.Done()
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			if !isLeader {
				n.log.Info("lost leadership", "term", n.raft.CurrentTerm())
				continue
			}
			n.log.Info("became leader", "term", n.raft.CurrentTerm())
			bctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
			if err := n.readBarrier(bctx); err != nil {
				n.log.Warn("read barrier after election failed", "err", err)
			}
			// Followers forward to the address in the FSM: publish ours
			// now rather than at publishSelf's next tick.
			if n.cfg.HTTPAddr != "" && n.fsm.Members()[n.cfg.ID] != n.cfg.HTTPAddr {
				if _, _, err := n.propose(bctx, &fsm.Command{Kind: fsm.KindSetMember, Member: fsm.Member{ID: n.cfg.ID, HTTPAddr: n.cfg.HTTPAddr}}); err != nil {
					n.log.Warn("publishing http address after election failed", "err", err)
				}
			}
			cancel()
		}
	}
}

// publishSelf makes sure the FSM knows this node's HTTP address: the
// leader proposes it itself; a follower asks the leader through its
// join route. It stops once the address is in the FSM.
func (n *Node) publishSelf(ctx context.Context) {
	defer n.wg.Done()
	if n.cfg.HTTPAddr == "" {
		return
	}
	// The one node-to-node HTTP call the cluster makes itself.
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if n.fsm.Members()[n.cfg.ID] == n.cfg.HTTPAddr {
			n.log.Info("published http address", "http_addr", n.cfg.HTTPAddr)
			return
		}
		var err error
		if n.raft.State() == raft.Leader {
			_, _, err = n.propose(ctx, &fsm.Command{Kind: fsm.KindSetMember, Member: fsm.Member{ID: n.cfg.ID, HTTPAddr: n.cfg.HTTPAddr}})
		} else if _, addr := n.Leader(); addr != "" {
			err = askToJoin(ctx, hc, addr, n.cfg.ID, n.cfg.AdvertiseRaft, n.cfg.HTTPAddr)
		}
		if err != nil {
			n.log.Debug("publishing http address", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

// Write proposes txn on object and waits until it is committed and
// applied. Domain failures come back as objects errors (ErrConflict,
// ErrInvalid) with nothing changed; the cluster's as ErrNotLeader,
// ErrNotApplied or ErrOutcomeUnknown. The index is the log entry's.
//
// On a follower the write goes to the leader on the forwarding stream
// (see serveStream); ErrNotLeader only when no leader is known.
func (n *Node) Write(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.writeLocal(ctx, object, txn, idemKey)
	}
	if err := txn.Validate(); err != nil {
		return objects.TxnResult{}, 0, err
	}
	id, addr := n.Leader()
	if addr == "" {
		return objects.TxnResult{}, 0, ErrNotLeader
	}
	return n.fwd.write(ctx, id, addr, forwardedWrite{Object: object, Txn: txn, IdemKey: idemKey})
}

// writeLocal is Write on the leader.
func (n *Node) writeLocal(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error) {
	cmd, err := n.txnCommand(object, txn, idemKey)
	if err != nil {
		return objects.TxnResult{}, 0, err
	}
	if n.cfg.bug(BugAckBeforeCommit) {
		return n.ackBeforeCommit(cmd)
	}
	resp, _, err := n.propose(ctx, cmd)
	return txnOutcome(proposed{resp: resp, err: err})
}

// txnCommand is the command of a write on the leader, stamped with its
// clock: ErrNotLeader on another node, ErrInvalid for a bad txn.
func (n *Node) txnCommand(object string, txn objects.Txn, idemKey string) (*fsm.Command, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := txn.Validate(); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	return &fsm.Command{
		Kind:        fsm.KindTxn,
		Object:      object,
		Txn:         txn,
		IdemKey:     idemKey,
		Time:        now,
		IdemExpires: now + int64(n.cfg.IdempotencyWindow),
	}, nil
}

// txnOutcome unpacks a write's proposal outcome.
func txnOutcome(r proposed) (objects.TxnResult, uint64, error) {
	if r.err != nil {
		return objects.TxnResult{}, 0, r.err
	}
	resp := r.resp.(*fsm.Response)
	return resp.Result, resp.Index, resp.Err
}

// ackBeforeCommit is BugAckBeforeCommit: the result is computed on a copy
// of the local state and returned before the entry is even appended.
func (n *Node) ackBeforeCommit(cmd *fsm.Command) (objects.TxnResult, uint64, error) {
	var s *objects.Store
	n.fsm.Read(func(st *objects.Store) { s = st.Clone() })
	res, err := s.Apply(cmd.Object, cmd.Txn)
	if data, encErr := fsm.Encode(cmd); encErr == nil {
		n.raft.Apply(data, time.Second)
	}
	return res, n.fsm.LastApplied(), err
}

// propose hands cmd to the proposer and waits for the FSM's response,
// mapping Raft's errors to ErrNotLeader, ErrNotApplied and
// ErrOutcomeUnknown. Giving up (ctx done, ApplyTimeout) before the command
// went into an entry is ErrNotApplied; after, ErrOutcomeUnknown: it may
// still commit.
func (n *Node) propose(ctx context.Context, cmd *fsm.Command) (interface{}, uint64, error) {
	if cmd.Time == 0 {
		cmd.Time = time.Now().UnixNano()
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("encode command: %w", err)
	}
	done := make(chan proposed, 1)
	p := &proposal{data: data, deliver: func(r proposed) { done <- r }}
	if err := n.prop.submit(p); err != nil {
		return nil, 0, err
	}
	timer := time.NewTimer(n.cfg.ApplyTimeout)
	defer timer.Stop()
	var cause string
	select {
	case r := <-done:
		return r.resp, r.index, r.err
	case <-ctx.Done():
		cause = ctx.Err().Error()
	case <-timer.C:
		cause = fmt.Sprintf("not applied within %s", n.cfg.ApplyTimeout)
	}
	if n.prop.withdraw(p) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotApplied, cause)
	}
	return nil, 0, fmt.Errorf("%w: %s", ErrOutcomeUnknown, cause)
}

// mapRaftError sorts Raft's errors by whether the entry may still commit.
func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotApplied, err)
	default:
		// ErrLeadershipLost, ErrRaftShutdown (an entry in flight at
		// shutdown may be in the log) and anything unforeseen.
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
	}
}

// readBarrier makes sure that, in the current term, this leader has
// committed and applied an entry of its own, so that its commit index
// covers every entry of earlier terms and the FSM sees every later one.
func (n *Node) readBarrier(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() == term {
		return nil
	}
	n.barrierMu.Lock()
	defer n.barrierMu.Unlock()
	if n.barrierTerm.Load() == term {
		return nil
	}
	if _, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindNoop}); err != nil {
		return err
	}
	n.barrierTerm.Store(term)
	return nil
}

// Read calls fn with the state. Linearizable reads follow the ReadIndex
// order of the Raft dissertation §6.4: the leader's barrier after an
// election, then capture the commit index, confirm leadership with a round
// of heartbeats started after the capture, wait for the FSM to apply up to
// the captured index, and read. A follower gets that index from the leader
// (one call shared by the reads waiting at that moment), waits for its own
// FSM, and reads locally. Stale reads use the local FSM with no wait. It
// returns the index the read saw.
func (n *Node) Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error) {
	if !linearizable || n.cfg.bug(BugStaleReads) {
		index := n.fsm.LastApplied()
		n.fsm.Read(fn)
		return index, nil
	}
	var index uint64
	var err error
	if n.raft.State() == raft.Leader {
		index, err = n.readIndex(ctx)
	} else if _, addr := n.Leader(); addr != "" {
		index, err = n.fwd.reads.join(ctx) // asks the leader known when its round starts
	} else {
		return 0, ErrNotLeader
	}
	if err != nil {
		return 0, readError(err)
	}
	if err := n.fsm.WaitApplied(ctx, index); err != nil {
		return 0, readError(err)
	}
	n.fsm.Read(fn)
	return index, nil
}

// readIndex is the leader's part of a linearizable read: the index that a
// read starting now must see.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if err := n.readBarrier(ctx); err != nil {
		return 0, err
	}
	index := n.raft.CommitIndex()
	if _, err := n.verifier.join(ctx); err != nil {
		return 0, err
	}
	return index, nil
}

// readError maps a failed read's cause: a read changes nothing, so every
// failure is "not applied", and a lost leadership is ErrNotLeader so that
// the caller may forward it.
func readError(err error) error {
	switch {
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return ErrNotLeader
	case errors.Is(err, ErrOutcomeUnknown), errors.Is(err, ErrNotApplied):
		return fmt.Errorf("%w: read barrier: %v", ErrNotApplied, err)
	default:
		return fmt.Errorf("%w: %v", ErrNotApplied, err)
	}
}

// Ready reports whether a leader is known with the HTTP address requests
// are forwarded to, this node's own HTTP address is published, and it has
// applied everything it knows to be committed (for a leader: its read
// barrier).
func (n *Node) Ready() bool {
	if n.cfg.HTTPAddr != "" {
		if _, addr := n.Leader(); addr == "" || n.fsm.Members()[n.cfg.ID] != n.cfg.HTTPAddr {
			return false
		}
	}
	if n.raft.State() == raft.Leader {
		return n.barrierTerm.Load() == n.raft.CurrentTerm()
	}
	if addr, _ := n.raft.LeaderWithID(); addr == "" {
		return false
	}
	commit := n.raft.CommitIndex()
	return commit > 0 && n.raft.AppliedIndex() >= commit
}

func (n *Node) servers() []raft.Server {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

// Status reports this node's view of the cluster.
func (n *Node) Status() Status {
	lid, laddr := n.Leader()
	http := n.fsm.Members()
	st := Status{
		ID:           n.cfg.ID,
		State:        strings.ToLower(n.raft.State().String()),
		Leader:       LeaderInfo{ID: lid, HTTPAddr: laddr},
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.LastApplied(),
		LogStore:     n.logStore.kind,
		Members:      []Member{},
	}
	for _, s := range n.servers() {
		st.Members = append(st.Members, Member{
			ID:       string(s.ID),
			RaftAddr: string(s.Address),
			HTTPAddr: http[string(s.ID)],
			Suffrage: strings.ToLower(s.Suffrage.String()),
		})
	}
	return st
}

// Digest fingerprints this node's state machine.
func (n *Node) Digest() Digest {
	d, applied, keys := n.fsm.Digest()
	return Digest{Digest: d, AppliedIndex: applied, Keys: keys}
}

// Join adds a voter (or updates its address) and publishes its HTTP
// address. Only the leader can; others return ErrNotLeader.
func (n *Node) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: join needs id and raft_addr", objects.ErrInvalid)
	}
	member := false
	for _, s := range n.servers() {
		switch {
		case string(s.ID) == id && string(s.Address) == raftAddr:
			member = true
		case string(s.ID) == id || string(s.Address) == raftAddr:
			// The same id at a new address, or a new id at an old
			// address: the old entry goes first.
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return mapRaftError(err)
			}
		}
	}
	if !member {
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return mapRaftError(err)
		}
		n.log.Info("member joined", "member", id, "raft_addr", raftAddr, "http_addr", httpAddr)
	}
	if httpAddr != "" && n.fsm.Members()[id] != httpAddr {
		_, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindSetMember, Member: fsm.Member{ID: id, HTTPAddr: httpAddr}})
		return err
	}
	return nil
}

// Remove takes a member out of the cluster. Only the leader can.
func (n *Node) Remove(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return mapRaftError(err)
	}
	n.log.Info("member removed", "member", id)
	_, _, err := n.propose(ctx, &fsm.Command{Kind: fsm.KindRemoveMember, Member: fsm.Member{ID: id}})
	if errors.Is(err, ErrNotLeader) {
		// A leader that removed itself has stepped down; the
		// membership change itself is committed.
		return nil
	}
	return err
}

// SetBlocked cuts this node off from the given members (Raft traffic both
// ways, as long as the peers block this node too, and forwarding to them).
// An empty list heals. It needs Config.Faults.
func (n *Node) SetBlocked(ids []string) error {
	if !n.cfg.Faults {
		return ErrFaultsDisabled
	}
	addrs := map[string]raft.ServerAddress{}
	for _, s := range n.servers() {
		addrs[string(s.ID)] = s.Address
	}
	var block []raft.ServerAddress
	blocked := map[string]bool{}
	for _, id := range ids {
		blocked[id] = true
		if a, ok := addrs[id]; ok {
			block = append(block, a)
		}
	}
	n.blockedMu.Lock()
	n.blocked = blocked
	n.blockedMu.Unlock()
	n.layer.setBlocked(block)
	n.fwd.streams.cut(blocked)
	n.log.Info("fault injection: blocked peers", "blocked", ids)
	return nil
}

// Blocked reports whether fault injection cuts this node off from id.
func (n *Node) Blocked(id string) bool {
	n.blockedMu.Lock()
	defer n.blockedMu.Unlock()
	return n.blocked[id]
}

// RaftAddr is the address the other nodes reach this node's Raft
// transport at (Config.AdvertiseRaft, with the port bound for port 0):
// the one to give Join.
func (n *Node) RaftAddr() string { return n.cfg.AdvertiseRaft }
