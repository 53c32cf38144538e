package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// increment POSTs one increment and returns the answer.
func (c *testCluster) increment(url, name string, header map[string]string) response {
	return c.do(http.MethodPost, url+"/"+name+"/increment", nil, header)
}

func counterValue(t *testing.T, r response) int64 {
	t.Helper()
	var v struct {
		Value int64 `json:"value"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("want 200, got %s", r)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("counter answer %s: %v", r.body, err)
	}
	return v.Value
}

// TestLeaderKillKeepsAcknowledgedWrites is issue 2's three-process test:
// 1,000 concurrent increments over all three nodes, SIGKILL of the leader,
// a new leader with every acknowledged increment, an Idempotency-Key retry
// through another node after the leader change, and the killed node
// restarted on its data catching up.
func TestLeaderKillKeepsAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3)
	c.start()

	const total, workers = 1000, 32
	var ok, unknown, unavailable, other atomic.Int64
	var firstOther atomic.Value
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				nd := c.nodes[i%len(c.nodes)]
				r := c.increment(nd.url(), "card-1", nil)
				switch {
				case r.status == http.StatusOK:
					ok.Add(1)
				case r.status == http.StatusGatewayTimeout || r.err != nil:
					unknown.Add(1) // may or may not have been applied
				case r.status == http.StatusServiceUnavailable:
					unavailable.Add(1) // definitely not applied
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, r.String())
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("increments: %d ok, %d outcome unknown, %d unavailable, %d other", ok.Load(), unknown.Load(), unavailable.Load(), other.Load())
	if other.Load() > 0 {
		t.Fatalf("%d increments got an unexpected answer, e.g. %v", other.Load(), firstOther.Load())
	}
	if ok.Load() < total*9/10 {
		t.Fatalf("only %d of %d increments succeeded on a healthy cluster", ok.Load(), total)
	}

	leader := c.leader()
	final := c.mustCounter(leader.url(), "card-1")
	if final < ok.Load() || final > ok.Load()+unknown.Load() {
		t.Fatalf("counter = %d after %d acknowledged and %d unknown increments", final, ok.Load(), unknown.Load())
	}

	// A keyed increment through the leader, which is about to die.
	key := map[string]string{"Idempotency-Key": "e2e-card-2-once"}
	first := counterValue(t, c.increment(leader.url(), "card-2", key))
	if first != 1 {
		t.Fatalf("first card-2 increment = %d, want 1", first)
	}

	c.kill(leader)
	t.Logf("killed leader %s", leader.id)
	newLeader := c.leader()
	if newLeader == leader {
		t.Fatal("the killed node is still reported as leader")
	}
	var survivors []*node
	for _, nd := range c.nodes {
		if nd != leader {
			survivors = append(survivors, nd)
		}
	}
	for _, nd := range survivors {
		if got := c.mustCounter(nd.url(), "card-1"); got != final {
			t.Fatalf("after the leader's death %s reads card-1 = %d, want %d", nd.id, got, final)
		}
	}

	// The retry goes to a follower that forwards it to the new leader: it
	// gets the first result and applies nothing.
	var follower *node
	for _, nd := range survivors {
		if nd != newLeader {
			follower = nd
		}
	}
	for i := 0; i < 2; i++ {
		var r response
		eventually(t, 15*time.Second, "idempotent retry answered", func() error {
			r = c.increment(follower.url(), "card-2", key)
			if r.status == http.StatusServiceUnavailable || r.err != nil {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		if got := counterValue(t, r); got != first {
			t.Fatalf("retry %d with the same Idempotency-Key = %d, want the first result %d", i+1, got, first)
		}
	}
	if got := c.mustCounter(newLeader.url(), "card-2"); got != 1 {
		t.Fatalf("card-2 = %d after a keyed increment and two retries, want 1", got)
	}
	if got := counterValue(t, c.increment(follower.url(), "card-2", nil)); got != 2 {
		t.Fatalf("an unkeyed increment after the retries = %d, want 2", got)
	}

	// Two nodes keep taking writes.
	for i := 0; i < 20; i++ {
		if r := c.increment(survivors[i%2].url(), "card-1", nil); r.status != http.StatusOK {
			t.Fatalf("increment with one node down: %s", r)
		}
	}
	final += 20

	// The killed node comes back on its own data and catches up.
	c.startNode(leader)
	c.waitReady(leader)
	d := c.sameDigest()
	t.Logf("all three nodes at %+v", d)
	if got, err := c.counter(leader.url(), "card-1", true); err != nil || got != final {
		t.Fatalf("restarted %s reads card-1 = %d (%v) from its own state, want %d", leader.id, got, err, final)
	}
	if got := c.mustCounter(leader.url(), "card-2"); got != 2 {
		t.Fatalf("restarted %s reads card-2 = %d, want 2", leader.id, got)
	}
}

// TestRestartFromSnapshotAndLogTail restarts every node of a cluster that
// has taken snapshots and has log entries after them: each comes back to
// exactly the state it had.
func TestRestartFromSnapshotAndLogTail(t *testing.T) {
	c := newCluster(t, 3, "--snapshot-threshold", "64", "--trailing-logs", "16", "--snapshot-interval", "200ms")
	c.start()

	write := func(i int) {
		t.Helper()
		nd := c.nodes[i%3]
		var r response
		switch i % 4 {
		case 0:
			r = c.increment(nd.url(), fmt.Sprintf("counter-%d", i%7), map[string]string{"Idempotency-Key": fmt.Sprintf("k%d", i)})
		case 1:
			r = c.do(http.MethodPut, fmt.Sprintf("%s/obj-%d/storage/key-%d", nd.url(), i%5, i), []byte(fmt.Sprintf(`{"i":%d,"s":"v%d"}`, i, i)), nil)
		case 2:
			r = c.do(http.MethodDelete, fmt.Sprintf("%s/obj-%d/storage/key-%d", nd.url(), (i-1)%5, i-1), nil, nil)
		case 3:
			r = c.do(http.MethodPost, nd.url()+"/txn-obj/transaction",
				[]byte(fmt.Sprintf(`{"compare":[{"key":"last","op":"exists"}],"success":[{"op":"put","key":"last","value":%d},{"op":"increment","key":"n","by":2}],"failure":[{"op":"put","key":"last","value":0}]}`, i)), nil)
		}
		if r.status != http.StatusOK {
			t.Fatalf("write %d: %s", i, r)
		}
	}
	for i := 0; i < 300; i++ {
		write(i)
	}
	// Every node has snapshotted, and then more entries follow the snapshot.
	eventually(t, 30*time.Second, "a snapshot on every node", func() error {
		for _, nd := range c.nodes {
			snaps, _ := filepath.Glob(filepath.Join(nd.dataDir, "snapshots", "*", "meta.json"))
			if len(snaps) == 0 {
				return fmt.Errorf("%s has no snapshot yet", nd.id)
			}
		}
		return nil
	})
	for i := 300; i < 330; i++ {
		write(i)
	}
	before := c.sameDigest()
	if before.Keys == 0 {
		t.Fatal("digest counts no keys")
	}
	counter0 := c.mustCounter(c.nodes[0].url(), "counter-0")

	for _, nd := range c.nodes {
		if !c.stop(nd) {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v\n%s", nd.id, nd.Err(), tail(nd.logPath, 10))
		}
	}
	for _, nd := range c.nodes {
		if _, err := os.Stat(filepath.Join(nd.dataDir, "raft.db")); err != nil {
			t.Fatalf("%s: %v", nd.id, err)
		}
	}
	c.start()
	c.leader()
	after := c.sameDigest()
	if after.Digest != before.Digest || after.Keys != before.Keys {
		t.Fatalf("state after restart %+v, before %+v", after, before)
	}
	if got := c.mustCounter(c.nodes[1].url(), "counter-0"); got != counter0 {
		t.Fatalf("counter-0 = %d after restart, want %d", got, counter0)
	}
	// An Idempotency-Key from before the restart is still remembered.
	r := c.increment(c.nodes[2].url(), "counter-0", map[string]string{"Idempotency-Key": "k0"})
	if got := counterValue(t, r); got != 1 {
		t.Fatalf("retry of the very first keyed increment after restart = %d, want its first result 1", got)
	}
	if d := c.sameDigest(); d.Digest != before.Digest {
		t.Fatalf("a retried key changed the state: %+v, want %+v", d, before)
	}
}
