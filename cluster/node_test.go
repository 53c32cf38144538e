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
	leader := c.waitLeader(nil)
	for _, id := range []string{"n2", "n3"} {
		c.dirs[id] = t.TempDir()
		n := c.open(testConfig(id, c.dirs[id]))
		if err := leader.Join(context.Background(), id, n.RaftAddr(), ""); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
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

func (c *testCluster) eventually(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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

func TestClusterKeepsAcknowledgedWritesAcrossLeaderChange(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)

	// Concurrent increments on several objects; count the acknowledgements.
	var mu sync.Mutex
	acked := map[string]int64{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			object := "card-" + strconv.Itoa(w%3)
			for i := 0; i < 25; i++ {
				if _, _, err := leader.Write(context.Background(), object, increment(1), ""); err == nil {
					mu.Lock()
					acked[object]++
					mu.Unlock()
				} else {
					t.Errorf("write: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()

	// A follower serves writes and linearizable reads through the
	// leader's peer service.
	for id, n := range c.nodes {
		if n == leader {
			continue
		}
		if _, _, err := n.Write(context.Background(), "card-0", increment(1), ""); err != nil {
			t.Fatalf("write on follower %s: %v", id, err)
		}
		acked["card-0"]++
		if got := readCounter(t, n, "card-0"); got != acked["card-0"] {
			t.Fatalf("linearizable read on follower %s right after its write = %d, want %d", id, got, acked["card-0"])
		}
	}

	// The leader leaves gracefully (hands leadership over); the new leader's
	// linearizable reads see every acknowledged write.
	old := leader.cfg.ID
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	delete(c.nodes, old)
	next := c.waitLeader(nil)
	for object, want := range acked {
		if got := readCounter(t, next, object); got != want {
			t.Fatalf("%s = %d after leader change, want %d acknowledged", object, got, want)
		}
	}

	// The old leader comes back on its stores and catches up.
	back := c.restart(old)
	if _, _, err := next.Write(context.Background(), "card-0", increment(1), ""); err != nil {
		t.Fatal(err)
	}
	acked["card-0"]++
	c.eventually(10*time.Second, "restarted node to catch up", func() bool {
		return digestOf(back).Digest == digestOf(next).Digest
	})
	var v int64
	back.Read(context.Background(), false, func(s *objects.Store) { v, _ = s.Counter("card-0", "value") })
	if v != acked["card-0"] {
		t.Fatalf("stale read on restarted node = %d, want %d", v, acked["card-0"])
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
	if err := follower.Join(ctx, "n4", n4.RaftAddr(), "127.0.0.1:8084"); err != nil {
		t.Fatalf("join through a follower: %v", err)
	}
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
