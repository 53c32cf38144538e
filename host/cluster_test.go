package host

import (
	"context"
	"testing"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/sqlstore"
)

// testNode is a node of the in-memory test cluster with its host.
type testNode struct {
	*cluster.Node
	id   string
	host *Host
}

// testCluster is three nodes on a cluster.InmemNetwork (no ports, no
// disks), each with a host.
type testCluster struct {
	t     testing.TB
	nodes map[string]*testNode
}

func testHostConfig() Config { return Config{ApplyTimeout: 3 * time.Second} }

// newTestCluster starts n1..n3 bootstrapped together, each hosting
// objects with cfg.
func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	return newTestClusterWith(t, testHostConfig())
}

func newTestClusterWith(t testing.TB, hcfg Config) *testCluster {
	t.Helper()
	return newTestClusterTimeout(t, hcfg, 300*time.Millisecond)
}

// newSteadyCluster is newTestCluster whose Raft waits a second before
// it elects: on a busy machine its leader stays, for tests whose calls
// are not to be retried.
func newSteadyCluster(t *testing.T) *testCluster {
	t.Helper()
	return newTestClusterTimeout(t, testHostConfig(), time.Second)
}

// newTestClusterTimeout is newTestClusterWith with Raft's heartbeat and
// election timeouts.
func newTestClusterTimeout(t testing.TB, hcfg Config, timeout time.Duration) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[string]*testNode{}}
	nw := cluster.NewInmemNetwork()
	deps := map[string]cluster.Deps{}
	var peers []cluster.Peer
	ids := []string{"n1", "n2", "n3"}
	for _, id := range ids {
		deps[id] = nw.Deps()
		deps[id] = withSQL(t, deps[id])
		peers = append(peers, cluster.Peer{ID: id, RaftAddr: string(deps[id].Trans.LocalAddr())})
	}
	for _, id := range ids {
		n, err := cluster.New(context.Background(), cluster.Config{
			ID: id, Peers: peers, Faults: true, ApplyTimeout: 3 * time.Second,
			HeartbeatTimeout: timeout, ElectionTimeout: timeout,
		}, deps[id])
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		tn := &testNode{Node: n, id: id, host: New(n, hcfg)}
		c.nodes[id] = tn
		t.Cleanup(func() {
			tn.host.Close()
			tn.Node.Close()
		})
	}
	return c
}

// withSQL gives d a store of SQLite-backed objects' databases in a
// fresh directory, closed when the test ends (after the node).
func withSQL(t testing.TB, d cluster.Deps) cluster.Deps {
	t.Helper()
	st, err := sqlstore.Open(sqlstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d.SQL = st
	return d
}

// waitLeader polls until one of the nodes not in skip is a leader that has
// passed its read barrier.
func (c *testCluster) waitLeader(skip map[string]bool) *testNode {
	c.t.Helper()
	var leader *testNode
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

// follower returns a node of c that is not leader.
func (c *testCluster) follower(leader *testNode) *testNode {
	for _, n := range c.nodes {
		if n != leader {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
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
