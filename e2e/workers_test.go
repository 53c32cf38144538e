package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/launch"
)

// Workers (issue 20) through every node's Worker listener.

// newWorkerCluster is newCluster with --worker-addr: node i serves its
// Workers on base+2000+i, in this package's port range (29101-29593).
func newWorkerCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir(), hc: newHTTPClient()}
	base := freeBase(t, n)
	lc, err := launch.New(launch.Config{Binary: bin, Dir: c.dir, BasePort: base, Nodes: n, WorkerPort: base + 2001})
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lc.Nodes {
		c.nodes = append(c.nodes, wrap(ln))
	}
	t.Cleanup(c.stopAll)
	return c
}

// workerURL is nd's Worker listener.
func workerURL(nd *node) string { return "http://" + nd.WorkerAddr }

// TestHonoCounterWorkersAcrossLeaderKill deploys the seed's application
// unchanged and drives POST /card-1/increment through every node's
// Worker listener while the leader is SIGKILLed. An increment answered
// 200 is counted; 503 (not applied) is retried; a 504, a 500 (hono
// answers a stub call that failed with its own 500) or a broken
// connection is an unknown outcome, not retried (no Idempotency-Key
// crosses a Worker). Stub calls ride out the election themselves
// (host.retryNotApplied), so unknowns are the calls in flight at the kill. The count ends between the acknowledged and the
// acknowledged plus the unknown, and reads the same through a Worker,
// the operator route and the CLI.
func TestHonoCounterWorkersAcrossLeaderKill(t *testing.T) {
	dir := examples.Dir(t, "../examples/hono-counter", "hono")
	c := newWorkerCluster(t, 3)
	c.start()
	eventually(t, 30*time.Second, "dobj deploy", func() error {
		_, errOut, code := dobjIn(t, dir, c.nodes[1].url(), "deploy")
		if code != 0 {
			return errors.New(errOut)
		}
		return nil
	})
	for _, nd := range c.nodes {
		eventually(t, 15*time.Second, nd.id+"'s Worker", func() error {
			r := c.do(http.MethodGet, workerURL(nd)+"/card-1", nil, nil)
			if r.status != http.StatusOK || string(r.body) != `{"name":"card-1","value":0}` {
				return fmt.Errorf("GET /card-1: %s", r)
			}
			return nil
		})
	}
	const total, clients = 600, 16
	var acked, unknown atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	failures := make(chan string, total)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if msg := incrementOnce(c, i, &acked, &unknown); msg != "" {
					failures <- msg
				}
			}
		}()
	}
	var killed *node
	for i := range total {
		if i == total*4/10 {
			killed = c.leader()
			c.kill(killed)
			t.Logf("killed leader %s after %d acknowledged increments", killed.id, acked.Load())
		}
		next <- i
	}
	close(next)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d acknowledged, %d unknown outcomes", acked.Load(), unknown.Load())
	var survivor *node
	for _, nd := range c.nodes {
		if nd != killed {
			survivor = nd
		}
	}
	var value int64
	eventually(t, 15*time.Second, "read card-1 through a Worker", func() error {
		r := c.do(http.MethodGet, workerURL(survivor)+"/card-1", nil, nil)
		var v struct{ Value int64 }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &v) != nil {
			return fmt.Errorf("GET /card-1: %s", r)
		}
		value = v.Value
		return nil
	})
	if value < acked.Load() || value > acked.Load()+unknown.Load() {
		t.Fatalf("count %d after %d acknowledged and %d unknown increments", value, acked.Load(), unknown.Load())
	}
	r := c.do(http.MethodPost, survivor.url()+"/_scripts/hono-counter/objects/Counter/card-1/rpc/getCounterValue", []byte("[]"), nil)
	if r.status != http.StatusOK || string(r.body) != strconv.FormatInt(value, 10) {
		t.Fatalf("operator RPC getCounterValue: %s, want %d", r, value)
	}
}

// incrementOnce sends increment i through the Worker listeners, from
// node i on, until it has an answer that is not "not applied"; it
// returns a failure's description, or "".
func incrementOnce(c *testCluster, i int, acked, unknown *atomic.Int64) string {
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 0; ; attempt++ {
		nd := c.nodes[(i+attempt)%len(c.nodes)]
		if !nd.running() {
			continue
		}
		r := c.do(http.MethodPost, workerURL(nd)+"/card-1/increment", nil, nil)
		switch {
		case r.status == http.StatusOK:
			acked.Add(1)
			return ""
		case r.status == http.StatusGatewayTimeout || r.status == http.StatusInternalServerError || r.err != nil:
			// hono answers a failed stub call 500 itself: the outcome
			// of that call is not known here.
			unknown.Add(1)
			return ""
		case r.status != http.StatusServiceUnavailable:
			return fmt.Sprintf("increment %d through %s: %s", i, nd.id, r)
		case time.Now().After(deadline):
			return fmt.Sprintf("increment %d: no definite answer within 60s, last %s", i, r)
		}
		time.Sleep(20 * time.Millisecond) // back off before the retry, not synchronisation
	}
}
