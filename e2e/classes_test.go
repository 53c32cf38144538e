package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Object classes (issue 14) run by three `dobj serve` processes.

// deploy PUTs a class through url and returns its version.
func (c *testCluster) deploy(url, class, lang string, source []byte) uint64 {
	c.t.Helper()
	var r response
	eventually(c.t, 15*time.Second, "deploy "+class, func() error {
		r = c.do(http.MethodPut, url+"/_classes/"+class+"?lang="+lang, source, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	var v struct {
		Version uint64 `json:"version"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Version == 0 {
		c.t.Fatalf("deploy answer %s: %v", r.body, err)
	}
	return v.Version
}

// call sends one class call.
func (c *testCluster) call(url, method, class, object, path string, body []byte, header map[string]string) response {
	return c.do(method, url+"/do/"+class+"/"+object+"/"+path, body, header)
}

// callDefinite POSTs a call with an Idempotency-Key, starting at node
// i, and retries it at the next node while the answer leaves it not
// applied or unknown (503, 504, a broken connection): an election on a
// loaded machine is no failure of the call, and the key keeps a retry
// from applying it twice. It returns the first definite answer.
func (c *testCluster) callDefinite(i int, class, object, path, key string) response {
	var r response
	deadline := time.Now().Add(30 * time.Second)
	for attempt := i; ; attempt++ {
		r = c.call(c.nodes[attempt%len(c.nodes)].url(), http.MethodPost, class, object, path, nil, map[string]string{"Idempotency-Key": key})
		definite := r.err == nil && r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout
		if definite || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond) // back off before the retry, not synchronisation
	}
}

// classValue reads a class object's stored value through the operator
// route, without running the class; "" when absent.
func (c *testCluster) classValue(url, class, object, key string) (string, error) {
	r := c.do(http.MethodGet, url+"/_classes/"+class+"/objects/"+object+"/storage/"+key, nil, nil)
	switch {
	case r.err != nil:
		return "", r.err
	case r.status == http.StatusNotFound:
		return "", nil
	case r.status != http.StatusOK:
		return "", fmt.Errorf("%s", r)
	}
	return string(r.body), nil
}

// TestClassCounterAcrossLeaderKill is issue 14's three-process test: the
// counter class deployed, 1,000 concurrent increments through all three
// nodes, the leader SIGKILLed in the middle, every unknown outcome retried
// with its Idempotency-Key until it is known: the stored count equals the
// acknowledged increments exactly, and a retry of an answered call returns
// the first response without running again.
func TestClassCounterAcrossLeaderKill(t *testing.T) {
	source, err := os.ReadFile(filepath.Join("..", "examples", "counter.js"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 3)
	c.start()
	stdout, stderr, code := dobj(t, c.nodes[1].url(), "deploy", filepath.Join("..", "examples", "counter.js"))
	if code != 0 || !strings.Contains(stdout, `"version"`) {
		t.Fatalf("dobj deploy: exit %d, %s %s", code, stdout, stderr)
	}
	if r := c.do(http.MethodGet, c.nodes[2].url()+"/_classes/Counter", nil, nil); r.status != http.StatusOK || !bytes.Equal(r.body, source) {
		t.Fatalf("GET /_classes/Counter through a follower: %s", r)
	}

	const total, workers = 1000, 32
	var acked, retried, unknownSeen atomic.Int64
	var killed *node
	var wg sync.WaitGroup
	next := make(chan int)
	failures := make(chan string, total)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := map[string]string{"Idempotency-Key": fmt.Sprintf("inc-%d", i)}
				deadline := time.Now().Add(60 * time.Second)
				for attempt := 0; ; attempt++ {
					nd := c.nodes[(i+attempt)%len(c.nodes)]
					if !nd.running() {
						continue
					}
					r := c.call(nd.url(), http.MethodPost, "Counter", "c1", "increment", nil, key)
					if r.status == http.StatusOK {
						acked.Add(1)
						if attempt > 0 {
							retried.Add(1)
						}
						break
					}
					if r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout && r.err == nil {
						failures <- fmt.Sprintf("increment %d: %s", i, r)
						break
					}
					if r.status == http.StatusGatewayTimeout || r.err != nil {
						unknownSeen.Add(1)
					}
					if time.Now().After(deadline) {
						failures <- fmt.Sprintf("increment %d: no definite answer within 60s, last %s", i, r)
						break
					}
					time.Sleep(20 * time.Millisecond) // back off before the retry, not synchronisation
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
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
	t.Logf("%d acknowledged, %d after a retry, %d unknown outcomes seen", acked.Load(), retried.Load(), unknownSeen.Load())

	leader := c.leader()
	var got string
	eventually(t, 15*time.Second, "read c1's count", func() error {
		got, err = c.classValue(leader.url(), "Counter", "c1", "value")
		return err
	})
	if got != strconv.FormatInt(acked.Load(), 10) {
		t.Fatalf("stored count = %s after %d acknowledged increments", got, acked.Load())
	}

	// The CLI reads it through the class, and lists the class.
	stdout, stderr, code = dobj(t, leader.url(), "call", "Counter", "c1")
	if code != 0 || !strings.Contains(stdout, `"value":`+got) {
		t.Fatalf("dobj call Counter c1: exit %d, %s %s", code, stdout, stderr)
	}
	stdout, stderr, code = dobj(t, leader.url(), "classes")
	if code != 0 || !strings.Contains(stdout, `"name": "Counter"`) {
		t.Fatalf("dobj classes: exit %d, %s %s", code, stdout, stderr)
	}

	// A retry of an answered call, through each surviving node: the first
	// response, and the count does not move.
	first := c.call(leader.url(), http.MethodPost, "Counter", "c1", "increment", nil, map[string]string{"Idempotency-Key": "inc-0"})
	for _, nd := range c.nodes {
		if nd == killed {
			continue
		}
		r := c.call(nd.url(), http.MethodPost, "Counter", "c1", "increment", nil, map[string]string{"Idempotency-Key": "inc-0"})
		if r.status != first.status || !bytes.Equal(r.body, first.body) || r.header.Get("Content-Type") != first.header.Get("Content-Type") {
			t.Fatalf("retry through %s = %s, first %s", nd.id, r, first)
		}
	}
	if v, _ := c.classValue(leader.url(), "Counter", "c1", "value"); v != got {
		t.Fatalf("retries moved the count from %s to %s", got, v)
	}

	// The killed node comes back and converges, classes and all.
	c.startNode(killed)
	c.waitReady(killed)
	c.sameDigest()
	r := c.do(http.MethodGet, killed.url()+"/_classes", nil, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"name":"Counter"`) {
		t.Fatalf("GET /_classes on the restarted node: %s", r)
	}
}

// testClassSource is a class whose routes exercise alarms, ordering and
// the limits.
const testClassSource = `
export class Probe {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    const s = this.ctx.storage;
    switch (url.pathname) {
    case "/alarm": {
      await s.put("throws", Number(url.searchParams.get("throws") || 0));
      await s.setAlarm(Date.now() + Number(url.searchParams.get("in")));
      return new Response("set");
    }
    case "/seq": {
      const v = (await s.get("n")) ?? 0;
      await new Promise(resolve => setTimeout(resolve, 1));
      await s.put("n", v + 1);
      return Response.json({n: v + 1});
    }
    case "/loop":
      for (;;) {}
    case "/big": {
      const big = "x".repeat(100 * 1024 * 1024);
      return new Response(String(big.length));
    }
    case "/throw":
      throw new Error("boom from the class");
    default:
      return Response.json({
        fired: (await s.get("fired")) ?? 0,
        retryCount: (await s.get("retryCount")) ?? null,
        isRetry: (await s.get("isRetry")) ?? null,
        alarm: await s.getAlarm(),
      });
    }
  }
  async alarm(info) {
    const s = this.ctx.storage;
    if (info.retryCount < ((await s.get("throws")) ?? 0)) {
      throw new Error("alarm fails on purpose, retry " + info.retryCount);
    }
    await s.put("fired", ((await s.get("fired")) ?? 0) + 1);
    await s.put("retryCount", info.retryCount);
    await s.put("isRetry", info.isRetry);
  }
}
`

type probeState struct {
	Fired      int    `json:"fired"`
	RetryCount *int   `json:"retryCount"`
	IsRetry    *bool  `json:"isRetry"`
	Alarm      *int64 `json:"alarm"`
}

func (c *testCluster) probe(object string) (probeState, error) {
	var st probeState
	for _, nd := range c.nodes {
		if !nd.running() {
			continue
		}
		r := c.call(nd.url(), http.MethodGet, "Probe", object, "", nil, nil)
		if r.status != http.StatusOK {
			return st, fmt.Errorf("%s via %s", r, nd.id)
		}
		return st, json.Unmarshal(r.body, &st)
	}
	return st, fmt.Errorf("no node running")
}

// TestClassAlarmsOrderingAndLimits: an alarm set 1s ahead fires once; one
// set just before the leader is SIGKILLed fires on the new leader; a
// throwing alarm is retried with retryCount growing and stops after a
// success; 200 concurrent read-await-write calls end at exactly 200; an
// infinite loop and a 100 MB string answer 500 while another object's
// calls keep succeeding.
func TestClassAlarmsOrderingAndLimits(t *testing.T) {
	c := newCluster(t, 3, "--class-cpu-limit", "1s")
	c.start()
	c.deploy(c.nodes[0].url(), "Probe", "js", []byte(testClassSource))
	u := func(i int) string { return c.nodes[i%3].url() }

	// The TypeScript example, deployed by the CLI (language from the
	// extension) and called through a follower.
	stdout, stderr, code := dobj(t, u(2), "deploy", filepath.Join("..", "examples", "ratelimiter.ts"))
	if code != 0 || !strings.Contains(stdout, `"lang": "ts"`) {
		t.Fatalf("dobj deploy ratelimiter.ts: exit %d, %s %s", code, stdout, stderr)
	}
	if r := c.call(u(1), http.MethodPost, "RateLimiter", "api", "take?key=alice", nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"allowed":true`) {
		t.Fatalf("rate limiter call: %s", r)
	}

	// Fires once.
	if r := c.call(u(1), http.MethodPost, "Probe", "once", "alarm?in=1000", nil, nil); r.status != http.StatusOK {
		t.Fatalf("set alarm: %s", r)
	}
	eventually(t, 15*time.Second, "the alarm fired and was cleared", func() error {
		st, err := c.probe("once")
		if err != nil {
			return err
		}
		if st.Fired != 1 || st.Alarm != nil || st.RetryCount == nil || *st.RetryCount != 0 || *st.IsRetry {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})

	// A throwing alarm: retryCount 0 and 1 throw, 2 succeeds (2s + 4s of
	// backoff), and then it is gone.
	if r := c.call(u(2), http.MethodPost, "Probe", "flaky", "alarm?in=10&throws=2", nil, nil); r.status != http.StatusOK {
		t.Fatalf("set alarm: %s", r)
	}

	// Ordering: reads, an await and a write per call, 200 at once.
	var wg sync.WaitGroup
	var seqFail atomic.Value
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.callDefinite(i, "Probe", "seq", "seq", fmt.Sprintf("seq-%d", i)); r.status != http.StatusOK {
				seqFail.CompareAndSwap(nil, r.String())
			}
		}()
	}
	wg.Wait()
	if f := seqFail.Load(); f != nil {
		t.Fatalf("a /seq call failed: %v", f)
	}
	if v, err := c.classValue(u(0), "Probe", "seq", "n"); err != nil || v != "200" {
		t.Fatalf("seq n = %q (%v) after 200 calls", v, err)
	}

	// Limits: a loop and a 100 MB string stopped, while another object
	// keeps answering.
	stop := make(chan struct{})
	var others, otherFail atomic.Int64
	var otherWG sync.WaitGroup
	otherWG.Add(1)
	go func() {
		defer otherWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if r := c.callDefinite(i, "Probe", "bystander", "seq", fmt.Sprintf("bystander-%d", i)); r.status == http.StatusOK {
				others.Add(1)
			} else {
				otherFail.Add(1)
				t.Logf("bystander call: %s", r)
			}
		}
	}()
	for _, tc := range []struct{ path, want string }{{"loop", ""}, {"big", ""}, {"throw", "boom from the class"}} {
		r := c.callDefinite(1, "Probe", "victim", tc.path, "victim-"+tc.path)
		if r.status != http.StatusInternalServerError || !strings.Contains(r.header.Get("Content-Type"), "problem+json") ||
			!strings.Contains(string(r.body), tc.want) {
			t.Errorf("/%s = %s, want a 500 problem", tc.path, r)
		}
		t.Logf("/%s answered %s", tc.path, r)
	}
	if st, err := c.probe("victim"); err != nil || st.Fired != 0 {
		t.Errorf("the victim object after its failures: %+v %v", st, err)
	}
	close(stop)
	otherWG.Wait()
	if others.Load() == 0 || otherFail.Load() > 0 {
		t.Fatalf("bystander: %d calls succeeded, %d failed while the victim ran", others.Load(), otherFail.Load())
	}

	eventually(t, 30*time.Second, "the flaky alarm succeeded on its second retry", func() error {
		st, err := c.probe("flaky")
		if err != nil {
			return err
		}
		if st.Fired != 1 || st.RetryCount == nil || *st.RetryCount != 2 || !*st.IsRetry || st.Alarm != nil {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})

	// Failover: set, then SIGKILL the leader before it is due.
	leader := c.leader()
	if r := c.call(leader.url(), http.MethodPost, "Probe", "failover", "alarm?in=1500", nil, nil); r.status != http.StatusOK {
		t.Fatalf("set alarm: %s", r)
	}
	c.kill(leader)
	eventually(t, 30*time.Second, "the alarm fired on the new leader", func() error {
		st, err := c.probe("failover")
		if err != nil {
			return err
		}
		if st.Fired < 1 || st.Alarm != nil {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	if st, _ := c.probe("once"); st.Fired != 1 {
		t.Fatalf("the first alarm fired %d times", st.Fired)
	}
}
