// Package e2e tests dobj as its users run it: the built binary, several
// `dobj serve` processes on loopback ports talking Raft to each other,
// driven over HTTP and through the CLI. Every process a test starts is
// stopped by its PID when the test ends.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

// bin is the dobj binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dobj-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = launch.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	examples.Remove()
	os.Exit(code)
}

// Ports: this package takes loopback ports 27100-29799, so that it does
// not collide with other packages' tests running at the same time: test
// clusters at base ports 27100-27590 (launch's scheme: HTTP base+i, Raft
// base+1000+i), single ports from freePort in 27600-27999, dev's test at
// 28600-28690. Ports found busy are skipped.
const (
	basePort      = 27100
	clusterPorts  = 27600 // end of the cluster bases
	singlePortEnd = 28000
)

var ports = launch.NewPorts(clusterPorts, singlePortEnd, basePort, clusterPorts)

// freePort returns a loopback port nothing listens on, from this
// package's range of single ports.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := ports.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeBase returns the next cluster base port whose ports for n nodes
// are free.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	b, err := ports.Base(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// node is one `dobj serve` process of a test, possibly restarted: the
// launcher's node, with the names the tests use.
type node struct {
	*launch.Node
	id       string
	httpAddr string
	raftAddr string
	dataDir  string
	logPath  string
}

func wrap(n *launch.Node) *node {
	return &node{Node: n, id: n.ID, httpAddr: n.HTTPAddr, raftAddr: n.RaftAddr, dataDir: n.DataDir, logPath: n.LogPath}
}

func (n *node) url() string   { return n.URL() }
func (n *node) running() bool { return n.Running() }

func newHTTPClient() *http.Client { return &http.Client{Timeout: 15 * time.Second} }

// testCluster is a set of nodes started by one test.
type testCluster struct {
	t     *testing.T
	dir   string
	nodes []*node
	hc    *http.Client
	// token, when set, goes as a bearer token on every request that
	// carries no Authorization of its own (a cluster started with
	// --auth-file).
	token string
}

// newCluster prepares n nodes bootstrapped with --peers (started by
// start); extra flags go to every serve.
func newCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir(), hc: newHTTPClient()}
	lc, err := launch.New(launch.Config{Binary: bin, Dir: c.dir, BasePort: freeBase(t, n), Nodes: n, Args: extra})
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lc.Nodes {
		c.nodes = append(c.nodes, wrap(ln))
	}
	t.Cleanup(c.stopAll)
	return c
}

// start starts every node that is not running and waits until all are ready.
func (c *testCluster) start() {
	c.t.Helper()
	for _, nd := range c.nodes {
		if !nd.running() {
			c.startNode(nd)
		}
	}
	for _, nd := range c.nodes {
		c.waitReady(nd)
	}
	c.waitPublished()
}

// waitPublished waits until every running node's HTTP address is in the
// replicated member list (each node publishes it through the log), so
// that later digests compare settled states.
func (c *testCluster) waitPublished() {
	c.t.Helper()
	eventually(c.t, 30*time.Second, "every node's http address published", func() error {
		for _, nd := range c.nodes {
			if !nd.running() {
				continue
			}
			var st client.Status
			if err := c.getJSON(nd.url()+"/_cluster/status", &st); err != nil {
				return err
			}
			addrs := map[string]string{}
			for _, m := range st.Members {
				addrs[m.ID] = m.HTTPAddr
			}
			for _, other := range c.nodes {
				if other.running() && addrs[other.id] != other.httpAddr {
					return fmt.Errorf("%s knows %s at %q, want %q", nd.id, other.id, addrs[other.id], other.httpAddr)
				}
			}
		}
		return nil
	})
}

// startNode starts nd's process with its arguments; its output is
// appended to its log file.
func (c *testCluster) startNode(nd *node) {
	c.t.Helper()
	if err := nd.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// kill SIGKILLs nd's process and waits for it.
func (c *testCluster) kill(nd *node) {
	c.t.Helper()
	if err := nd.Kill(); err != nil {
		c.t.Fatal(err)
	}
}

// stop SIGTERMs nd's process and waits for it to exit (SIGKILL after 20s).
// It reports whether the process exited by itself with status 0.
func (c *testCluster) stop(nd *node) bool { return nd.Stop(20 * time.Second) }

// stopAll stops every running node by PID; if the test failed it shows
// the end of each node's log.
func (c *testCluster) stopAll() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); nd.Stop(20 * time.Second) }()
	}
	wg.Wait()
	c.hc.CloseIdleConnections()
	if c.t.Failed() {
		for _, nd := range c.nodes {
			c.t.Logf("--- end of %s's log:\n%s", nd.id, tail(nd.logPath, 25))
		}
	}
}

func tail(path string, n int) string { return launch.Tail(path, n) }

// eventually polls cond every 50ms until it returns nil or the deadline
// passes; then it fails the test with cond's last error.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

func (c *testCluster) waitReady(nd *node) {
	c.t.Helper()
	eventually(c.t, 30*time.Second, nd.id+" ready", func() error {
		if !nd.running() {
			c.t.Fatalf("%s exited (%v); log:\n%s", nd.id, nd.Err(), tail(nd.logPath, 20))
		}
		resp := c.do(http.MethodGet, nd.url()+"/_ready", nil, nil)
		if resp.status != http.StatusOK {
			return fmt.Errorf("/_ready = %d %s", resp.status, resp.body)
		}
		return nil
	})
}

// response is an HTTP answer read whole; status 0 means a transport error.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r response) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// do sends one request; it never fails the test, so that goroutines may use it.
func (c *testCluster) do(method, url string, body []byte, header map[string]string) response {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c.token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// getJSON GETs url and decodes a 200 answer into v.
func (c *testCluster) getJSON(url string, v any) error {
	r := c.do(http.MethodGet, url, nil, nil)
	if r.err != nil {
		return r.err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, r)
	}
	return json.Unmarshal(r.body, v)
}

// leader waits until every running node names the same leader, which is
// one of them and says it leads, and returns it.
func (c *testCluster) leader() *node {
	c.t.Helper()
	var leader *node
	eventually(c.t, 30*time.Second, "one leader agreed by every running node", func() error {
		leader = nil
		var id string
		for _, nd := range c.nodes {
			if !nd.running() {
				continue
			}
			var st client.Status
			if err := c.getJSON(nd.url()+"/_cluster/status", &st); err != nil {
				return err
			}
			if st.Leader.ID == "" || (id != "" && st.Leader.ID != id) {
				return fmt.Errorf("%s sees leader %q, others %q", nd.id, st.Leader.ID, id)
			}
			id = st.Leader.ID
			if st.State == "leader" {
				if st.ID != id {
					return fmt.Errorf("%s is leader but names %s", st.ID, id)
				}
				leader = nd
			}
		}
		if leader == nil {
			return fmt.Errorf("leader %q is not one of the running nodes", id)
		}
		return nil
	})
	return leader
}

// sameDigest waits until every running node has the same digest and
// applied index and returns it.
func (c *testCluster) sameDigest() client.Digest {
	c.t.Helper()
	var d client.Digest
	eventually(c.t, 30*time.Second, "every running node at the same digest", func() error {
		var first *client.Digest
		for _, nd := range c.nodes {
			if !nd.running() {
				continue
			}
			var got client.Digest
			if err := c.getJSON(nd.url()+"/_cluster/digest", &got); err != nil {
				return err
			}
			if first == nil {
				first = &got
			} else if got != *first {
				return fmt.Errorf("%s has %+v, another %+v", nd.id, got, *first)
			}
		}
		d = *first
		return nil
	})
	return d
}

// counter reads a counter through url (linearizable unless stale).
func (c *testCluster) counter(url, name string, stale bool) (int64, error) {
	u := url + "/" + name
	if stale {
		u += "?consistency=stale"
	}
	var v struct {
		Name  string `json:"name"`
		Value int64  `json:"value"`
	}
	if err := c.getJSON(u, &v); err != nil {
		return 0, err
	}
	if v.Name != name {
		return 0, fmt.Errorf("answer names %q, want %q", v.Name, name)
	}
	return v.Value, nil
}

// mustCounter reads a counter, retrying while there is no leader.
func (c *testCluster) mustCounter(url, name string) int64 {
	c.t.Helper()
	var v int64
	eventually(c.t, 30*time.Second, "read "+name+" via "+url, func() error {
		var err error
		v, err = c.counter(url, name, false)
		return err
	})
	return v
}
