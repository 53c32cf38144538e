package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/objects"
)

// testCluster is in-process nodes: on an InmemNetwork (newTestCluster:
// no ports, no disks) or on loopback with real stores in temp dirs.
type testCluster struct {
	t     *testing.T
	nodes map[string]*Node
	dirs  map[string]string // on disk: each node's data directory
	net   *InmemNetwork     // in memory: the network, and each node's stores
	deps  map[string]Deps
}

func testConfig(id, dir string) Config {
	return Config{
		ID:               id,
		DataDir:          dir,
		RaftAddr:         "127.0.0.1:0",
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
		ApplyTimeout:     3 * time.Second,
		Faults:           true,
	}
}

// newTestCluster starts three nodes n1..n3 in memory, bootstrapped
// together.
func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[string]*Node{}, net: NewInmemNetwork(), deps: map[string]Deps{}}
	t.Cleanup(c.closeAll)
	var peers []Peer
	for _, id := range []string{"n1", "n2", "n3"} {
		c.deps[id] = c.net.Deps()
		peers = append(peers, Peer{ID: id, RaftAddr: string(c.deps[id].Trans.LocalAddr())})
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := testConfig(id, "")
		cfg.Peers = peers
		c.start(cfg, c.deps[id])
	}
	return c
}

// newDiskCluster starts three nodes on loopback with stores in temp dirs:
// n1 bootstraps alone, the others join through Node.Join.
func newDiskCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[string]*Node{}, dirs: map[string]string{}}
	t.Cleanup(c.closeAll)
	c.dirs["n1"] = t.TempDir()
	cfg := testConfig("n1", c.dirs["n1"])
	cfg.Peers = []Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}}
	c.open(cfg)
	c.waitLeader(nil)
	for _, id := range []string{"n2", "n3"} {
		c.dirs[id] = t.TempDir()
		c.open(testConfig(id, c.dirs[id]))
		c.join(nil, id, "")
	}
	return c
}

func (c *testCluster) closeAll() {
	for _, n := range c.nodes {
		n.Close()
	}
}

// start starts a node in memory on deps.
func (c *testCluster) start(cfg Config, deps Deps) *Node {
	c.t.Helper()
	n, err := New(context.Background(), cfg, deps)
	if err != nil {
		c.t.Fatalf("start %s: %v", cfg.ID, err)
	}
	c.nodes[cfg.ID] = n
	return n
}

// restart starts a closed in-memory node again on the stores it had.
func (c *testCluster) restart(id string) *Node {
	c.t.Helper()
	c.deps[id] = c.net.Reopen(c.deps[id])
	return c.start(testConfig(id, ""), c.deps[id])
}

func (c *testCluster) open(cfg Config) *Node {
	c.t.Helper()
	n, err := Open(context.Background(), cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", cfg.ID, err)
	}
	c.nodes[cfg.ID] = n
	return n
}

// waitLeader polls until one of the nodes not in skip is a leader that has
// passed its read barrier.
func (c *testCluster) waitLeader(skip map[string]bool) *Node {
	c.t.Helper()
	var leader *Node
	c.eventually(10*time.Second, "a ready leader", func() bool {
		for id, n := range c.nodes {
			if !skip[id] && n.IsLeader() && n.Ready() {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// leaderNow is a node of c that is a ready leader now, or nil: what
// waitLeader polls, for a goroutine that must not end the test.
func (c *testCluster) leaderNow() *Node {
	for _, n := range c.nodes {
		if n.IsLeader() && n.Ready() {
			return n
		}
	}
	return nil
}

func (c *testCluster) eventually(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if !poll(d, cond) {
		c.t.Fatalf("timed out waiting for %s", what)
	}
}

// poll asks cond every 10ms until it holds (true) or d has passed
// (false).
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// join makes node id of c a voter (publishing httpAddr unless "")
// through via, or through the ready leader of the moment if via is nil,
// as a client must when the machine is loaded and leaders lose their
// terms: a join refused as not applied is sent again; one whose outcome
// is unknown may have been applied, so the membership is polled, and
// the join sent again if it does not show (a repeated join of a member
// is a no-op).
func (c *testCluster) join(via *Node, id, httpAddr string) {
	c.t.Helper()
	raftAddr := c.nodes[id].RaftAddr()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		to := c.waitLeader(map[string]bool{id: true})
		if via != nil {
			to = via
		}
		err := to.Join(context.Background(), id, raftAddr, httpAddr)
		if err == nil {
			return
		}
		retry := errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown)
		if !retry || time.Now().After(deadline) {
			c.t.Fatalf("join %s, attempt %d: %v", id, attempt, err)
		}
		c.t.Logf("join %s, attempt %d: %v; polling the membership", id, attempt, err)
		if errors.Is(err, ErrOutcomeUnknown) && poll(5*time.Second, func() bool { return c.committedMember(id, raftAddr, httpAddr) }) {
			return
		}
	}
}

// committedMember reports whether the ready leader of the moment has id
// at raftAddr in a committed configuration, and, unless httpAddr is "",
// id's HTTP address applied as httpAddr. A configuration a leader has
// appended is lost with its term unless committed: a barrier that
// commits in the same term commits it.
func (c *testCluster) committedMember(id, raftAddr, httpAddr string) bool {
	l := c.leaderNow()
	if l == nil {
		return false
	}
	term := l.raft.CurrentTerm()
	member := false
	for _, s := range l.servers() {
		member = member || string(s.ID) == id && string(s.Address) == raftAddr
	}
	if !member || l.raft.Barrier(time.Second).Error() != nil || l.raft.CurrentTerm() != term {
		return false
	}
	return httpAddr == "" || l.fsm.Members()[id] == httpAddr
}

func increment(by int64) objects.Txn {
	return objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "value", By: by}}}
}

// readCounter reads object's counter on n, linearizably. A read that
// meets an election (a 503 to a client, which retries it) is
// sent again until the cluster has a leader, for at most ten seconds: a
// read changes nothing, so sending it again is always safe.
func readCounter(t *testing.T, n *Node, object string) int64 {
	t.Helper()
	var v int64
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rerr := n.Read(context.Background(), true, func(s *objects.Store) { v, err = s.Counter(object, "value") })
		if rerr == nil {
			break
		}
		if !errors.Is(rerr, ErrNotLeader) && !errors.Is(rerr, ErrNotApplied) || time.Now().After(deadline) {
			t.Fatalf("linearizable read on %s: %v", n.cfg.ID, rerr)
		}
		time.Sleep(20 * time.Millisecond) // poll for the election's end
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// digestOf is n's digest; one n cannot give (fsm.ErrDigestBusy) is a
// string no other node's digest equals.
func digestOf(n *Node) apitypes.Digest {
	d, err := n.Digest()
	if err != nil {
		return apitypes.Digest{Digest: fmt.Sprintf("%p: %v", n, err)}
	}
	return d
}

// tally counts one object's increments: acked were acknowledged; maybe
// were answered outcome unknown, so each was applied or not.
type tally struct{ acked, maybe int64 }

func (ty *tally) add(unknown bool) {
	if unknown {
		ty.maybe++
	} else {
		ty.acked++
	}
}

// check fails t unless the counter read as got holds every acknowledged
// increment and at most the maybe ones besides: exactly the acknowledged
// ones when no outcome was unknown, as in a run on a quiet machine.
func (ty *tally) check(t *testing.T, what string, got int64) {
	t.Helper()
	if ty.maybe == 0 && got != ty.acked {
		t.Fatalf("%s = %d, want %d acknowledged", what, got, ty.acked)
	}
	if got < ty.acked || got > ty.acked+ty.maybe {
		t.Fatalf("%s = %d, want %d acknowledged and at most %d of unknown outcome", what, got, ty.acked, ty.maybe)
	}
}

// sendIncrement increments object by one through the node to() gives
// (nil: none can take it now), as a client must when the machine is
// loaded and leaders lose their terms: a write refused as not applied
// (ErrNotApplied, ErrNotLeader) is sent again; one answered outcome
// unknown may have been applied, so it is not, and unknown is true.
func sendIncrement(to func() *Node, object string) (unknown bool, err error) {
	err = errors.New("no node to send it to")
	if !poll(10*time.Second, func() bool {
		n := to()
		if n == nil {
			return false
		}
		_, _, err = n.Write(context.Background(), object, increment(1), "")
		return !errors.Is(err, ErrNotApplied) && !errors.Is(err, ErrNotLeader)
	}) {
		return false, fmt.Errorf("not applied for ten seconds: %w", err)
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		return true, nil
	}
	return false, err
}

func TestClusterKeepsAcknowledgedWritesAcrossLeaderChange(t *testing.T) {
	c := newTestCluster(t)
	c.waitLeader(nil)

	// Concurrent increments on several objects through the leader of the
	// moment; count the acknowledged ones and those of unknown outcome.
	var mu sync.Mutex
	counts := map[string]*tally{"card-0": {}, "card-1": {}, "card-2": {}}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			object := "card-" + strconv.Itoa(w%3)
			for i := 0; i < 25; i++ {
				unknown, err := sendIncrement(c.leaderNow, object)
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
				mu.Lock()
				counts[object].add(unknown)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// A follower serves writes and linearizable reads through the
	// leader's peer service.
	leader := c.waitLeader(nil)
	for id, n := range c.nodes {
		if n == leader {
			continue
		}
		unknown, err := sendIncrement(func() *Node { return n }, "card-0")
		if err != nil {
			t.Fatalf("write on follower %s: %v", id, err)
		}
		counts["card-0"].add(unknown)
		counts["card-0"].check(t, "linearizable read on follower "+id+" right after its write", readCounter(t, n, "card-0"))
	}

	// The leader leaves gracefully (hands leadership over); the new leader's
	// linearizable reads see every acknowledged write.
	leader = c.waitLeader(nil)
	old := leader.cfg.ID
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	delete(c.nodes, old)
	next := c.waitLeader(nil)
	for object, ty := range counts {
		ty.check(t, object+" after leader change", readCounter(t, next, object))
	}

	// The old leader comes back on its stores and catches up.
	back := c.restart(old)
	unknown, err := sendIncrement(func() *Node { return next }, "card-0")
	if err != nil {
		t.Fatal(err)
	}
	counts["card-0"].add(unknown)
	c.eventually(10*time.Second, "restarted node to catch up", func() bool {
		return digestOf(back).Digest == digestOf(next).Digest
	})
	var v int64
	back.Read(context.Background(), false, func(s *objects.Store) { v, _ = s.Counter("card-0", "value") })
	counts["card-0"].check(t, "stale read on restarted node", v)
	for object, ty := range counts {
		t.Logf("%s: %d acknowledged, %d of unknown outcome", object, ty.acked, ty.maybe)
	}
}

func TestIsolatedLeaderNeitherAcknowledgesNorServesReads(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	if _, _, err := leader.Write(context.Background(), "o", increment(1), ""); err != nil {
		t.Fatal(err)
	}
	var others []string
	for id := range c.nodes {
		if id != leader.cfg.ID {
			others = append(others, id)
		}
	}
	if err := leader.SetBlocked(others); err != nil {
		t.Fatal(err)
	}
	for _, id := range others {
		c.nodes[id].SetBlocked([]string{leader.cfg.ID})
	}

	// A write on the cut-off leader never reports success: either it was
	// refused before being appended, or its outcome is unknown.
	_, _, err := leader.Write(context.Background(), "o", increment(1), "")
	if err == nil {
		t.Fatal("isolated leader acknowledged a write")
	}
	if !errors.Is(err, ErrOutcomeUnknown) && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNotApplied) {
		t.Fatalf("write on isolated leader: %v", err)
	}
	// Nor does it serve a linearizable read.
	if _, err := leader.Read(context.Background(), true, func(*objects.Store) {}); err == nil {
		t.Fatal("isolated leader served a linearizable read")
	}

	// The majority elects a leader and takes writes.
	next := c.waitLeader(map[string]bool{leader.cfg.ID: true})
	if _, _, err := next.Write(context.Background(), "o", increment(10), ""); err != nil {
		t.Fatal(err)
	}
	// Heal: the old leader rejoins as a follower and converges. The write
	// it may have appended in its old term is either committed by the new
	// leader or discarded, on every node alike.
	leader.SetBlocked(nil)
	for _, id := range others {
		c.nodes[id].SetBlocked(nil)
	}
	c.eventually(10*time.Second, "old leader to converge", func() bool {
		return !leader.IsLeader() && digestOf(leader).Digest == digestOf(next).Digest
	})
	got := readCounter(t, next, "o")
	if got != 11 && got != 12 {
		t.Fatalf("counter = %d, want 11 (lost write) or 12 (committed later)", got)
	}
}

func TestSetBlockedNeedsFaults(t *testing.T) {
	deps := NewInmemNetwork().Deps()
	cfg := testConfig("solo", "")
	cfg.Faults = false
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: string(deps.Trans.LocalAddr())}}
	n, err := New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.SetBlocked([]string{"x"}); !errors.Is(err, ErrFaultsDisabled) {
		t.Fatalf("err = %v, want ErrFaultsDisabled", err)
	}
}

func TestRestartFromSnapshotAndLogTail(t *testing.T) {
	for _, store := range []string{LogStoreWAL, LogStoreBolt} {
		t.Run(store, func(t *testing.T) { testRestartFromSnapshotAndLogTail(t, store) })
	}
}

func testRestartFromSnapshotAndLogTail(t *testing.T, store string) {
	dir := t.TempDir()
	cfg := testConfig("solo", dir)
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	cfg.SnapshotThreshold = 16
	cfg.TrailingLogs = 4
	cfg.LogStore = store
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Status().LogStore; got != store {
		t.Fatalf("log store %q, want %q", got, store)
	}
	c := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
	c.waitLeader(nil)
	for i := 0; i < 50; i++ {
		v, _ := json.Marshal(fmt.Sprintf("v%d", i))
		txn := objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: fmt.Sprintf("k%02d", i%20), Value: v}}}
		if _, _, err := n.Write(context.Background(), fmt.Sprintf("o%d", i%7), txn, fmt.Sprintf("idem-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Take a snapshot so the restart reads it plus the log after it.
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := n.Write(context.Background(), "tail", increment(1), ""); err != nil {
			t.Fatal(err)
		}
	}
	before := digestOf(n)
	n.Close()

	cfg.LogStore = "" // the data directory says which
	n2, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if got := n2.Status().LogStore; got != store {
		t.Fatalf("log store after restart %q, want %q", got, store)
	}
	c.nodes["solo"] = n2
	c.waitLeader(nil)
	c.eventually(5*time.Second, "replay to reach the old index", func() bool { return digestOf(n2).AppliedIndex >= before.AppliedIndex })
	after := digestOf(n2)
	if after.Digest != before.Digest || after.Keys != before.Keys {
		t.Fatalf("state after restart %+v, want %+v", after, before)
	}
	// The idempotency table survived too: a retry of the first write
	// (the same request: a key is tied to its request) replays it.
	txn := objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: "k00", Value: json.RawMessage(`"v0"`)}}}
	_, index, err := n2.Write(context.Background(), "o0", txn, "idem-0")
	if err != nil || index > 10 {
		t.Fatalf("retry of idem-0 after restart: index %d, err %v; want the first entry's index", index, err)
	}
}

// A data directory keeps the log it has: asking for the other one would
// start an empty log and lose the entries, so Open refuses.
func TestOpenRefusesTheOtherLogStore(t *testing.T) {
	for _, c := range []struct{ has, asked string }{{LogStoreWAL, LogStoreBolt}, {LogStoreBolt, LogStoreWAL}} {
		t.Run(c.has, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig("solo", dir)
			cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
			cfg.LogStore = c.has
			n, err := Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			tc := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
			tc.waitLeader(nil)
			if _, _, err := n.Write(context.Background(), "card-1", increment(1), ""); err != nil {
				t.Fatal(err)
			}
			n.Close()

			cfg.LogStore = c.asked
			if n, err := Open(context.Background(), cfg); !errors.Is(err, ErrLogStoreMismatch) {
				if err == nil {
					n.Close()
				}
				t.Fatalf("open a %s directory as %s: err %v, want ErrLogStoreMismatch", c.has, c.asked, err)
			}
			if c.has == LogStoreBolt {
				if ok, _ := exists(filepath.Join(dir, "wal")); ok {
					t.Fatal("the refused open created a wal directory")
				}
			}

			cfg.LogStore = ""
			n, err = Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			tc.nodes["solo"] = n
			tc.waitLeader(nil)
			if got := n.Status().LogStore; got != c.has {
				t.Fatalf("log store %q, want %q", got, c.has)
			}
			if v := readCounter(t, n, "card-1"); v != 1 {
				t.Fatalf("card-1 = %d after reopening, want 1", v)
			}
		})
	}
}

// A follower takes a join and a removal to the leader's peer service; a
// join without an address is refused as a bad member, changing nothing.
func TestMembershipThroughAFollower(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	var follower *Node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	c.deps["n4"] = c.net.Deps()
	n4 := c.start(testConfig("n4", ""), c.deps["n4"])
	ctx := context.Background()
	if err := follower.Join(ctx, "n4", "", ""); !errors.Is(err, ErrBadMember) {
		t.Fatalf("join without an address: %v, want ErrBadMember", err)
	}
	c.join(follower, "n4", "127.0.0.1:8084")
	if _, _, err := leader.Write(ctx, "o", increment(1), ""); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "n4 to replicate", func() bool { return digestOf(n4).Digest == digestOf(leader).Digest })
	if got := leader.Status().Members; len(got) != 4 {
		t.Fatalf("members after the join: %+v", got)
	}
	if err := follower.Remove(ctx, "n4"); err != nil {
		t.Fatalf("remove through a follower: %v", err)
	}
	c.eventually(10*time.Second, "n4 removed", func() bool { return len(leader.Status().Members) == 3 })
}

// A write a follower forwards is checked by the leader as the API checks
// a client's: a peer cannot reach the reserved names or pass the limits,
// and the refusal crosses the peer wire with its meaning.
func TestLeaderChecksForwardedWrites(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	var follower *Node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	ctx := context.Background()
	put := objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: "k", Value: json.RawMessage(`1`)}}}
	big := objects.Txn{}
	for i := 0; i <= objects.DefaultMaxOps; i++ {
		big.Success = append(big.Success, objects.Op{Op: objects.OpGet, Key: "k"})
	}
	for _, tc := range []struct {
		name   string
		object string
		txn    objects.Txn
		want   error
	}{
		{"reserved name", "_do/Counter/card-1", put, objects.ErrInvalid},
		{"too many ops", "card-1", big, objects.ErrTooLarge},
	} {
		for _, n := range []*Node{leader, follower} {
			// The follower's own check would refuse it first; send it
			// as a peer would, straight onto the stream.
			var err error
			if n == follower {
				id, addr := n.LeaderPeer()
				_, _, err = n.fwd.write(ctx, id, addr, forwardedWrite{Object: tc.object, Txn: wireTxnOf(tc.txn)})
			} else {
				_, _, err = n.Write(ctx, tc.object, tc.txn, "")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%s on %s: %v, want %v", tc.name, n.cfg.ID, err, tc.want)
			}
		}
	}
	var found bool
	leader.Read(ctx, true, func(s *objects.Store) { _, found = s.Get("_do/Counter/card-1", "k") })
	if found {
		t.Fatal("a forwarded write reached a reserved object")
	}
}
