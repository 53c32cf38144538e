package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/client"
)

// Cloudflare's own Durable Objects examples (issue 20's conformance
// list), each deployed unchanged from its directory under examples/ to
// three nodes with `dobj deploy` and driven through every node's Worker
// listener. An example whose code cannot run as written, or that needs
// what the runtime lacks, is tested for that, or skipped naming it.

// exampleCluster is a three-node cluster whose nodes serve Workers too.
type exampleCluster struct {
	*testCluster
	workers []string // node i's Worker listener, http://host:port
}

// newExampleCluster starts three nodes with --worker-addr and waits until
// they are ready.
func newExampleCluster(t *testing.T) *exampleCluster {
	t.Helper()
	c := &exampleCluster{testCluster: newWorkerCluster(t, 3)}
	c.start()
	for _, nd := range c.nodes {
		c.workers = append(c.workers, workerURL(nd))
	}
	return c
}

// deployExample runs `dobj deploy` in the example's directory through a
// node (retrying while the cluster settles) and returns what it says.
func (c *exampleCluster) deployExample(dir string) client.ScriptDeployed {
	c.t.Helper()
	var d client.ScriptDeployed
	eventually(c.t, 30*time.Second, "dobj deploy in "+dir, func() error {
		out, errOut, code := dobjIn(c.t, dir, c.nodes[0].url(), "deploy")
		if code != 0 {
			return errors.New(errOut)
		}
		return json.Unmarshal([]byte(out), &d)
	})
	return d
}

// worker sends a request to a Worker listener; a transport error is a
// status 0 answer.
func (c *exampleCluster) worker(method, url, body string, header map[string]string) response {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return c.do(method, url, b, header)
}

// firstRequest sends a request through a Worker listener, again while
// the node answers that no Worker serves it (it has not yet applied the
// deploy): requests that must not be repeated.
func (c *exampleCluster) firstRequest(method, url, body string) response {
	c.t.Helper()
	var r response
	eventually(c.t, 30*time.Second, "a Worker at "+url, func() error {
		r = c.worker(method, url, body, nil)
		if r.status == 0 || r.status == http.StatusNotFound && strings.Contains(string(r.body), "no Worker serves") {
			return errors.New(r.String())
		}
		return nil
	})
	return r
}

// waitServed polls url through every node's Worker listener until each
// answers want (a follower learns of the script through the log).
func (c *exampleCluster) waitServed(path string, want int) {
	c.t.Helper()
	for _, w := range c.workers {
		eventually(c.t, 30*time.Second, "the Worker served at "+w, func() error {
			if r := c.worker(http.MethodGet, w+path, "", nil); r.status != want {
				return fmt.Errorf("GET %s%s: %s", w, path, r)
			}
			return nil
		})
	}
}

// "Build a counter": RPC increment, decrement and getCounterValue by name,
// counted exactly through all three nodes.
func TestExampleCounter(t *testing.T) {
	c := newExampleCluster(t)
	c.deployExample("../examples/do-counter")
	c.waitServed("/?name=A", http.StatusOK)
	want := 0
	for i := range 9 {
		w := c.workers[i%3]
		want++
		r := c.worker(http.MethodGet, w+"/increment?name=A", "", nil)
		if exp := fmt.Sprintf("Durable Object 'A' count: %d", want); r.status != http.StatusOK || string(r.body) != exp {
			t.Fatalf("increment %d via %s: %s, want %q", i+1, w, r, exp)
		}
	}
	r := c.worker(http.MethodGet, c.workers[1]+"/decrement?name=A", "", nil)
	if r.status != http.StatusOK || string(r.body) != "Durable Object 'A' count: 8" {
		t.Fatalf("decrement: %s", r)
	}
	for _, w := range c.workers {
		if r := c.worker(http.MethodGet, w+"/?name=A", "", nil); string(r.body) != "Durable Object 'A' count: 8" {
			t.Fatalf("value via %s: %s", w, r)
		}
		if r := c.worker(http.MethodGet, w+"/?name=B", "", nil); string(r.body) != "Durable Object 'B' count: 0" {
			t.Fatalf("another name via %s: %s", w, r)
		}
	}
	// The operator's way to the same object, without a Worker: the
	// class's RPC method by the script, class and name.
	for _, nd := range c.nodes {
		out, errOut, code := dobj(t, nd.url(), "rpc", "my-counter", "Counter", "A", "increment", "2")
		if code != 0 || strings.TrimSpace(out) != "10" {
			t.Fatalf("dobj rpc increment 2 via %s: %q %s", nd.id, out, errOut)
		}
		out, errOut, code = dobj(t, nd.url(), "rpc", "my-counter", "Counter", "A", "decrement", "2")
		if code != 0 || strings.TrimSpace(out) != "8" {
			t.Fatalf("dobj rpc decrement 2 via %s: %q %s", nd.id, out, errOut)
		}
	}
	if r := c.worker(http.MethodGet, c.workers[2]+"/", "", nil); r.status != http.StatusOK || !strings.HasPrefix(string(r.body), "Select a Durable Object") {
		t.Fatalf("no name: %s", r)
	}
	if r := c.worker(http.MethodGet, c.workers[2]+"/other?name=A", "", nil); r.status != http.StatusNotFound || string(r.body) != "Not found" {
		t.Fatalf("unknown path: %s", r)
	}
	// 64 concurrent increments through the three nodes: each count
	// answered once, none lost.
	var wg sync.WaitGroup
	seen := make([]atomic.Int32, 8+64+1)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.worker(http.MethodGet, c.workers[i%3]+"/increment?name=A", "", nil)
			n, err := strconv.Atoi(strings.TrimPrefix(string(r.body), "Durable Object 'A' count: "))
			if r.status != http.StatusOK || err != nil || n < 9 || n > 72 {
				t.Errorf("concurrent increment: %s", r)
				return
			}
			seen[n].Add(1)
		}()
	}
	wg.Wait()
	for n := 9; n <= 72; n++ {
		if seen[n].Load() != 1 {
			t.Fatalf("count %d answered %d times", n, seen[n].Load())
		}
	}
}

// sessionMessage is what the hibernation server sends.
var sessionMessage = regexp.MustCompile(`^\[Durable Object\] message: (.*), from: ([0-9a-f-]{36})\. Total connections: (\d+)$`)

// "Build a WebSocket server with WebSocket Hibernation": two clients on
// different nodes share the one object; a message is echoed to its
// sender and broadcast; "ping" is answered "pong" by the auto-response.
func TestExampleWebSocketHibernation(t *testing.T) {
	c := newExampleCluster(t)
	c.deployExample("../examples/do-websocket-hibernation")
	c.waitServed("/", http.StatusOK)
	if r := c.worker(http.MethodGet, c.workers[1]+"/websocket", "", nil); r.status != http.StatusUpgradeRequired {
		t.Fatalf("no upgrade: %s, want 426", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(w string) *websocket.Conn {
		t.Helper()
		conn, resp, err := websocket.Dial(ctx, strings.Replace(w, "http://", "ws://", 1)+"/websocket", nil)
		if err != nil {
			var body []byte
			if resp != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			t.Fatalf("dial %s: %v: %s", w, err, body)
		}
		t.Cleanup(func() { conn.CloseNow() })
		return conn
	}
	read := func(conn *websocket.Conn) string {
		t.Helper()
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Through every node's Worker listener: a and b on two nodes, a
	// third client (below) on the last.
	a := dial(c.workers[1])
	b := dial(c.workers[2])
	if err := a.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := read(a); got != "pong" {
		t.Fatalf("ping: %q, want pong", got)
	}
	if err := a.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	// The sender gets its echo and the broadcast, both naming its own
	// session; the other gets the broadcast and the "all but the
	// sender" copy, both naming its session (the example sends each
	// recipient's attachment id).
	ids := map[*websocket.Conn]string{}
	for _, conn := range []*websocket.Conn{a, b} {
		for range 2 {
			m := sessionMessage.FindStringSubmatch(read(conn))
			if m == nil || m[1] != "hello" || m[3] != "2" {
				t.Fatalf("message %q", m)
			}
			if ids[conn] != "" && ids[conn] != m[2] {
				t.Fatalf("session ids %s and %s on one connection", ids[conn], m[2])
			}
			ids[conn] = m[2]
		}
	}
	if ids[a] == ids[b] {
		t.Fatalf("both connections have session %s", ids[a])
	}
	z := dial(c.workers[0])
	if err := z.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*websocket.Conn{z, a, b} {
		if m := sessionMessage.FindStringSubmatch(read(conn)); m == nil || m[1] != "hi" || m[3] != "3" {
			t.Fatalf("message %q, want hi with 3 connections", m)
		}
	}
}

// "Use the Alarms API": requests are queued through every node; ten
// seconds after the first, the alarm POSTs the batch upstream and empties
// the object. The nodes may fetch example.com (--outbound-allow), reached
// through a proxy of the test's (HTTP_PROXY), which records the batch.
func TestExampleAlarmsBatcher(t *testing.T) {
	upstream := make(chan string, 8)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		upstream <- r.Method + " " + r.URL.String() + " " + string(b)
	}))
	defer proxy.Close()
	c := &exampleCluster{testCluster: newWorkerCluster(t, 3)}
	for _, nd := range c.nodes {
		if err := nd.StartEnv([]string{"DOBJ_OUTBOUND_ALLOW=example.com", "HTTP_PROXY=" + proxy.URL}); err != nil {
			t.Fatal(err)
		}
		c.workers = append(c.workers, workerURL(nd))
	}
	for _, nd := range c.nodes {
		c.waitReady(nd)
	}
	c.waitPublished()
	c.deployExample("../examples/do-alarms-batcher")
	r := c.firstRequest(http.MethodPost, c.workers[0]+"/", "a")
	if r.status != http.StatusOK || string(r.body) != `{"queued":1}` {
		t.Fatalf("first POST: %s", r)
	}
	for i, body := range []string{"b", "c"} {
		r := c.firstRequest(http.MethodPost, c.workers[i+1]+"/", body)
		if want := fmt.Sprintf(`{"queued":%d}`, i+2); r.status != http.StatusOK || string(r.body) != want {
			t.Fatalf("POST %s via %s: %s, want %s", body, c.workers[i+1], r, want)
		}
	}
	// keys is the number of keys the (SQLite-backed) objects hold on a
	// node, summed.
	keys := func() (int, error) { return kvKeys(c.nodes[0]) }
	eventually(t, 30*time.Second, "the batch stored", func() error {
		if n, err := keys(); err != nil || n != 3 {
			return fmt.Errorf("%d keys, want 3: %v", n, err)
		}
		return nil
	})
	batch := func() string {
		t.Helper()
		select {
		case got := <-upstream:
			return got
		case <-time.After(30 * time.Second):
			t.Fatal("no batch upstream within 30s of the alarm's time")
			return ""
		}
	}
	// fetch sends an array body as its string, as on Cloudflare.
	if got, want := batch(), "POST http://example.com/some-upstream-service a,b,c"; got != want {
		t.Fatalf("upstream got %q, want %q", got, want)
	}
	eventually(t, 30*time.Second, "the batch deleted", func() error {
		if n, err := keys(); err != nil || n != 0 {
			return fmt.Errorf("%d keys, want none: %v", n, err)
		}
		return nil
	})
	// A new batch starts at 1 and goes upstream by itself.
	if r := c.worker(http.MethodPost, c.workers[2]+"/", "d", nil); r.status != http.StatusOK || string(r.body) != `{"queued":1}` {
		t.Fatalf("POST after the batch: %s", r)
	}
	if got, want := batch(), "POST http://example.com/some-upstream-service d"; got != want {
		t.Fatalf("second batch %q, want %q", got, want)
	}
}

// "Build a rate limiter": one object per client address (the listener's
// CF-Connecting-IP); past the bucket's 10,000 tokens, refilled 5,000
// every 5 seconds, requests are refused with 429.
func TestExampleRateLimiter(t *testing.T) {
	c := newExampleCluster(t)
	c.deployExample("../examples/do-rate-limiter")
	c.waitServed("/", http.StatusOK)
	if r := c.worker(http.MethodGet, c.workers[0]+"/", "", nil); string(r.body) != "Call some upstream resource..." {
		t.Fatalf("first request: %s", r)
	}
	// 32 clients through the leader's listener, where the object runs,
	// until the bucket is empty: it refills at 1,000 a second, so the
	// clients must outrun that, and through the leader they do with the
	// least work a request. A client's own CF-Connecting-IP header does
	// not choose its bucket. The harness's client keeps two idle
	// connections a host; these clients keep theirs, so that the rate is
	// not spent on handshakes.
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	get := func(url, ip string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("CF-Connecting-IP", ip)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	w := workerURL(c.leader())
	var (
		ok, limited atomic.Int64
		wg          sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(time.Minute)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := fmt.Sprintf("10.0.0.%d", i)
			for limited.Load() < 100 && time.Now().Before(deadline) {
				status, body, err := get(w+"/", ip)
				switch {
				case status == http.StatusOK && body == "Call some upstream resource...":
					ok.Add(1)
				case status == http.StatusTooManyRequests && body == "Rate limit exceeded":
					limited.Add(1)
				default:
					t.Errorf("request via %s: %d %s %v", w, status, body, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Whatever the machine's speed, no more passed than the bucket held
	// and its alarms refilled: 10,000, and 5,000 an alarm, one alarm at
	// most every 5 s.
	if most := 10000 + 5000*(int64(elapsed/(5*time.Second))+1); ok.Load()+4 > most {
		t.Fatalf("%d requests passed in %v, more than the bucket's %d", ok.Load()+4, elapsed, most)
	}
	if limited.Load() < 100 {
		// Emptying the bucket in the time given needs its refill of
		// 1,000 requests a second plus its 10,000 over that time: a
		// machine that served fewer (with a tenth to spare) cannot show
		// the limit, which is no fault of the limiter.
		rate := float64(ok.Load()) / elapsed.Seconds()
		if needed := 1000 + 10000/elapsed.Seconds(); rate < 1.1*needed {
			t.Skipf("this machine served %.0f requests/s; emptying the bucket in %v needs about %.0f", rate, elapsed.Round(time.Second), needed)
		}
		t.Fatalf("%d requests answered, %d refused: the limit was not reached", ok.Load(), limited.Load())
	}
	// Four requests took tokens before the loop (the first and
	// waitServed's three).
	if ok.Load()+4 < 10000 {
		t.Fatalf("only %d requests passed before the limit, want the bucket's 10,000", ok.Load()+4)
	}
	t.Logf("%d requests passed, %d refused, in %v", ok.Load(), limited.Load(), time.Since(start).Round(time.Millisecond))
}

// "Durable Object in-memory state": its constructor sets this.state
// without calling super(ctx, env), which JavaScript refuses in a derived
// class, on Cloudflare as here: every request is the Worker's 500.
func TestExampleInMemoryState(t *testing.T) {
	c := newExampleCluster(t)
	c.deployExample("../examples/do-in-memory-state")
	for _, w := range c.workers {
		eventually(t, 30*time.Second, "the example's error via "+w, func() error {
			r := c.worker(http.MethodGet, w+"/", "", nil)
			if r.status != http.StatusInternalServerError || r.header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(string(r.body), "Must call super constructor in derived class before accessing 'this'") {
				return fmt.Errorf("GET %s/: %s", w, r)
			}
			return nil
		})
	}
}

// "Durable Object Time To Live": the page's fetch() holds a literal
// "..." where the rest of the handler would go, so the code does not
// parse: `dobj deploy` refuses it naming the file and line, and nothing
// is deployed.
func TestExampleTTL(t *testing.T) {
	c := newExampleCluster(t)
	_, errOut, code := dobjIn(t, "../examples/do-ttl", c.nodes[0].url(), "deploy")
	if code == 0 || !strings.Contains(errOut, "src/index.ts:19:5: Unexpected \"...\"") {
		t.Fatalf("dobj deploy: exit %d, %s", code, errOut)
	}
	var list struct{ Scripts []client.Script }
	if err := c.getJSON(c.nodes[0].url()+"/_scripts", &list); err != nil || len(list.Scripts) != 0 {
		t.Fatalf("scripts after a refused deploy: %+v %v", list, err)
	}
}

// create-cloudflare's "Hello World - Worker using Durable Objects"
// (hello-world-do-template), deployed unchanged: sayHello over RPC
// answers from a SQL query on its SQLite-backed object.
func TestExampleHelloWorldTemplate(t *testing.T) {
	c := newExampleCluster(t)
	c.deployExample("../examples/hello-world-do-template")
	if r := c.firstRequest(http.MethodGet, c.workers[0]+"/", ""); r.status != http.StatusOK || string(r.body) != "Hello, World!" {
		t.Fatalf("GET %s/: %s", c.workers[0], r)
	}
	for _, w := range c.workers {
		for _, path := range []string{"/", "/another"} {
			if r := c.worker(http.MethodGet, w+path, "", nil); r.status != http.StatusOK || string(r.body) != "Hello, World!" {
				t.Fatalf("GET %s%s: %s", w, path, r)
			}
		}
	}
}
