package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/host"
)

// stackNode is one in-process dobj server: a cluster.Node behind the api
// on a loopback listener.
type stackNode struct {
	id   string
	url  string
	node *cluster.Node
	host *host.Host
	srv  *http.Server
	api  *api.Server
}

func (s *stackNode) stop() {
	s.srv.Close()
	s.api.Close()
	s.host.Close()
	s.node.Close()
}

func startStackNode(t *testing.T, id string, peers []cluster.Peer, opts ...func(*cluster.Config)) *stackNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.Config{
		ID:               id,
		DataDir:          t.TempDir(),
		RaftAddr:         "127.0.0.1:0",
		HTTPAddr:         ln.Addr().String(),
		Peers:            peers,
		HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout:  300 * time.Millisecond,
		ApplyTimeout:     3 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	node, err := cluster.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := host.New(node, host.Config{ApplyTimeout: 3 * time.Second})
	a := api.New(api.Config{NodeID: id}, node, h)
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(ln)
	s := &stackNode{id: id, url: "http://" + ln.Addr().String(), node: node, host: h, srv: srv, api: a}
	t.Cleanup(s.stop)
	return s
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func call(t *testing.T, method, url string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func counterOf(t *testing.T, b []byte) int64 {
	t.Helper()
	var v struct{ Value int64 }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("counter body %q: %v", b, err)
	}
	return v.Value
}

// TestThreeNodesThroughAnyNode runs the whole stack in one process: n1
// bootstraps, n2 and n3 join through the HTTP join route, writes go to
// every node (followers forward them), and after the leader leaves,
// linearizable reads through the others see every acknowledged write, and
// an Idempotency-Key retry sent to another node is answered from the
// first outcome.
func TestThreeNodesThroughAnyNode(t *testing.T) {
	nodes := map[string]*stackNode{}
	nodes["n1"] = startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", func() bool { return nodes["n1"].node.Ready() })
	for _, id := range []string{"n2", "n3"} {
		n := startStackNode(t, id, nil)
		nodes[id] = n
		body, _ := json.Marshal(map[string]string{"id": id, "raft_addr": n.node.RaftAddr(), "http_addr": n.url[len("http://"):]})
		if code, b := call(t, http.MethodPost, nodes["n1"].url+"/_cluster/join", body, nil); code != 200 {
			t.Fatalf("join %s: %d %s", id, code, b)
		}
	}
	for id, n := range nodes {
		eventually(t, 10*time.Second, id+" ready", n.node.Ready)
	}

	// 300 increments spread over the three nodes, from 12 clients.
	var mu sync.Mutex
	ok, unknown := 0, 0
	var wg sync.WaitGroup
	ids := []string{"n1", "n2", "n3"}
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				code, _ := call(t, http.MethodPost, nodes[ids[(w+i)%3]].url+"/card-1/increment", nil, nil)
				mu.Lock()
				switch code {
				case 200:
					ok++
				case 504:
					unknown++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if ok == 0 {
		t.Fatal("no increment succeeded")
	}

	// Read-your-writes across nodes: a write acknowledged through one node
	// is seen by a linearizable read started afterwards through any other
	// (followers read locally once they have applied the leader's read
	// index).
	for i := 1; i <= 30; i++ {
		w, r := nodes[ids[i%3]], nodes[ids[(i+1)%3]]
		if code, b := call(t, http.MethodPost, w.url+"/ryw/increment", nil, nil); code != 200 || counterOf(t, b) != int64(i) {
			t.Fatalf("increment %d via %s: %d %s", i, w.id, code, b)
		}
		if code, b := call(t, http.MethodGet, r.url+"/ryw", nil, nil); code != 200 || counterOf(t, b) != int64(i) {
			t.Fatalf("read after increment %d via %s: %d %s", i, r.id, code, b)
		}
	}

	// A keyed increment, then the leader leaves.
	idem := map[string]string{"Idempotency-Key": "retry-1"}
	code, first := call(t, http.MethodPost, nodes["n2"].url+"/card-2/increment?by=5", nil, idem)
	if code != 200 || counterOf(t, first) != 5 {
		t.Fatalf("first keyed increment: %d %s", code, first)
	}
	var leader string
	for id, n := range nodes {
		if n.node.IsLeader() {
			leader = id
		}
	}
	nodes[leader].stop()
	delete(nodes, leader)
	eventually(t, 10*time.Second, "a new leader", func() bool {
		for _, n := range nodes {
			if n.node.IsLeader() && n.node.Ready() {
				return true
			}
		}
		return false
	})

	for id, n := range nodes {
		var got int64
		eventually(t, 10*time.Second, "a linearizable read via "+id, func() bool {
			code, b := call(t, http.MethodGet, n.url+"/card-1", nil, nil)
			if code != 200 {
				return false
			}
			got = counterOf(t, b)
			return true
		})
		if got < int64(ok) || got > int64(ok+unknown) {
			t.Fatalf("card-1 via %s = %d; %d acknowledged, %d unknown", id, got, ok, unknown)
		}
	}

	// The retry goes to each remaining node: same answer, applied once.
	for id, n := range nodes {
		code, again := call(t, http.MethodPost, n.url+"/card-2/increment?by=5", nil, idem)
		if code != 200 || !bytes.Equal(again, first) {
			t.Fatalf("retry via %s: %d %s, want %s", id, code, again, first)
		}
	}
	for id, n := range nodes {
		code, b := call(t, http.MethodGet, n.url+"/card-2", nil, nil)
		if code != 200 || counterOf(t, b) != 5 {
			t.Fatalf("card-2 via %s after retries: %d %s, want 5", id, code, b)
		}
	}
}
