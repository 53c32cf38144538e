package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/apitypes"
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

// joinStack adds n to the cluster through via's join route, as an operator
// would: a join answered 504 (outcome unknown) or not answered at all may
// still be applied, so it is not a failure. The helper then polls via's
// view of the members until n is there with its addresses, and repeats
// the join (same id and addresses: a no-op for a member) if it is not
// there yet. A 4xx is a real refusal and fails the test.
func joinStack(t *testing.T, via, n *stackNode) {
	t.Helper()
	httpAddr := strings.TrimPrefix(n.url, "http://")
	body, _ := json.Marshal(map[string]string{"id": n.id, "raft_addr": n.node.RaftAddr(), "http_addr": httpAddr})
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		code, b := call(t, http.MethodPost, via.url+"/_cluster/join", body, nil)
		if code == 200 {
			return
		}
		if code/100 == 4 || time.Now().After(deadline) {
			t.Fatalf("join %s, attempt %d: %d %s", n.id, attempt, code, b)
		}
		t.Logf("join %s, attempt %d: %d %s; polling the members", n.id, attempt, code, b)
		poll := time.Now().Add(5 * time.Second)
		for time.Now().Before(poll) {
			if hasMember(t, via, n.id, n.node.RaftAddr(), httpAddr) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// hasMember reports whether via's GET /_cluster/status lists member id
// at raftAddr with httpAddr.
func hasMember(t *testing.T, via *stackNode, id, raftAddr, httpAddr string) bool {
	t.Helper()
	code, b := call(t, http.MethodGet, via.url+"/_cluster/status", nil, nil)
	var st apitypes.Status
	if code != 200 || json.Unmarshal(b, &st) != nil {
		return false
	}
	for _, m := range st.Members {
		if m.ID == id && m.RaftAddr == raftAddr && m.HTTPAddr == httpAddr {
			return true
		}
	}
	return false
}

// callSafely sends a request whose repeat is harmless (a read, or a write
// with an Idempotency-Key), again while the answer is a 503 (not
// applied), a 504 (outcome unknown: the repeat finds out) or none, as a
// leader election under load causes; it returns the first other answer.
func callSafely(t *testing.T, method, url string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, b := call(t, method, url, body, header)
		if (code != 0 && code != 503 && code != 504) || time.Now().After(deadline) {
			return code, b
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		nodes[id] = startStackNode(t, id, nil)
		joinStack(t, nodes["n1"], nodes[id])
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
		key := map[string]string{"Idempotency-Key": "ryw-" + strconv.Itoa(i)}
		if code, b := callSafely(t, http.MethodPost, w.url+"/ryw/increment", nil, key); code != 200 || counterOf(t, b) != int64(i) {
			t.Fatalf("increment %d via %s: %d %s", i, w.id, code, b)
		}
		if code, b := callSafely(t, http.MethodGet, r.url+"/ryw", nil, nil); code != 200 || counterOf(t, b) != int64(i) {
			t.Fatalf("read after increment %d via %s: %d %s", i, r.id, code, b)
		}
	}

	// A keyed increment, then the leader leaves.
	idem := map[string]string{"Idempotency-Key": "retry-1"}
	code, first := callSafely(t, http.MethodPost, nodes["n2"].url+"/card-2/increment?by=5", nil, idem)
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
		code, again := callSafely(t, http.MethodPost, n.url+"/card-2/increment?by=5", nil, idem)
		if code != 200 || !bytes.Equal(again, first) {
			t.Fatalf("retry via %s: %d %s, want %s", id, code, again, first)
		}
	}
	for id, n := range nodes {
		code, b := callSafely(t, http.MethodGet, n.url+"/card-2", nil, nil)
		if code != 200 || counterOf(t, b) != 5 {
			t.Fatalf("card-2 via %s after retries: %d %s, want 5", id, code, b)
		}
	}
}

// TestRepeatedJoinIsANoOp: joining a member again with the same id and
// addresses, through the leader or a follower, answers 200 and leaves the
// membership as it was, so a join whose outcome was unknown (504) can
// safely be sent again; joinStack and dobj serve's join loop rely on it.
func TestRepeatedJoinIsANoOp(t *testing.T) {
	n1 := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", n1.node.Ready)
	n2 := startStackNode(t, "n2", nil)
	joinStack(t, n1, n2)
	eventually(t, 10*time.Second, "n2 ready", n2.node.Ready)
	before := n1.node.Status().Members
	body, _ := json.Marshal(map[string]string{"id": "n2", "raft_addr": n2.node.RaftAddr(), "http_addr": strings.TrimPrefix(n2.url, "http://")})
	for _, via := range []*stackNode{n1, n2, n1} {
		if code, b := call(t, http.MethodPost, via.url+"/_cluster/join", body, nil); code != 200 {
			t.Fatalf("join n2 again through %s: %d %s; want 200", via.id, code, b)
		}
		if got := n1.node.Status().Members; !reflect.DeepEqual(got, before) {
			t.Fatalf("members after joining n2 again through %s: %+v; want %+v", via.id, got, before)
		}
	}
	if len(before) != 2 || before[1].ID != "n2" || before[1].Suffrage != "voter" {
		t.Fatalf("members: %+v; want n1 and n2, voters", before)
	}
}
