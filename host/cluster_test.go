package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// inOneTerm runs scenario on a fresh cluster's leader and fails the test
// with the error it returns. A scenario that looks at what happens on a
// leader holds only while one leader serves it; on a busy machine Raft's
// timeouts can pass and the leadership move mid-run (a leader then
// answers "outcome unknown", or a call runs elsewhere). So when the
// scenario fails and its leader has lost the leadership or moved to
// another term meanwhile, that run says nothing of the host: it runs
// again on a fresh cluster, up to 5 times. A failure within one term is
// the test's.
func inOneTerm(t *testing.T, scenario func(*testing.T, *testCluster, *testNode) error) {
	t.Helper()
	if _, err := runInOneTerm(t, 5, scenario); err != nil {
		t.Fatal(err)
	}
}

// runInOneTerm is inOneTerm's loop: it returns the runs it made and the
// error of the last, nil when one passed.
func runInOneTerm(t *testing.T, attempts int, scenario func(*testing.T, *testCluster, *testNode) error) (int, error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := newTestCluster(t)
		leader := c.waitLeader(nil)
		term := leader.Term()
		err := scenario(t, c, leader)
		if err == nil {
			return attempt, nil
		}
		if stayed := leader.IsLeader() && leader.Term() == term; stayed || attempt == attempts {
			return attempt, fmt.Errorf("%w (run %d; leader %s stayed in term %d: %v)", err, attempt, leader.id, term, stayed)
		}
		t.Logf("run %d: %v; leader %s left term %d meanwhile (now %d, leading %v), so again on a fresh cluster",
			attempt, err, leader.id, term, leader.Term(), leader.IsLeader())
		c.close()
	}
}

// close stops every node and its host, as the test's cleanup would.
func (c *testCluster) close() {
	for _, n := range c.nodes {
		n.host.Close()
		n.Node.Close()
	}
}

// poll reports whether cond holds within d, checking every 10 ms.
func (c *testCluster) poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
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

// runInOneTerm runs a scenario again when its leader left the term it
// began in, and reports a failure within one term at once.
func TestRunInOneTerm(t *testing.T) {
	errBroken := errors.New("broken")
	runs := 0
	n, err := runInOneTerm(t, 5, func(t *testing.T, c *testCluster, leader *testNode) error {
		if runs++; runs > 1 {
			return nil
		}
		if err := leader.TransferLeadership(); err != nil {
			t.Fatal(err)
		}
		return errBroken
	})
	if n != 2 || err != nil {
		t.Fatalf("a run whose leader moved, then one that passed: %d runs, %v; want 2, nil", n, err)
	}
	// (Should Raft itself elect in the instant of a run, the next runs.)
	_, err = runInOneTerm(t, 5, func(*testing.T, *testCluster, *testNode) error { return errBroken })
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "stayed in term") || !strings.HasSuffix(err.Error(), ": true)") {
		t.Fatalf("a run that failed in one term: %v; want its error, the leader having stayed", err)
	}
	n, err = runInOneTerm(t, 2, func(t *testing.T, c *testCluster, leader *testNode) error {
		if err := leader.TransferLeadership(); err != nil {
			t.Fatal(err)
		}
		return errBroken
	})
	if n != 2 || !errors.Is(err, errBroken) {
		t.Fatalf("runs whose leader always moved: %d runs, %v; want 2 and the last error", n, err)
	}
}
