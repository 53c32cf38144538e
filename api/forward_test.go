package api

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// leaderAndFollower starts a leader server (whose requests are recorded)
// and a follower that knows it as the leader at its host:port.
type pair struct {
	leader, follower        *fakeNode
	leaderURL, followerURL  string
	mu                      sync.Mutex
	forwardedHeaders, paths []string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{leader: newFakeNode(), follower: newFakeNode()}
	lapi := New(Config{NodeID: "n1"}, p.leader)
	t.Cleanup(func() { lapi.Close() })
	lts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.forwardedHeaders = append(p.forwardedHeaders, r.Header.Get("X-Dobj-Forwarded"))
		p.paths = append(p.paths, r.URL.EscapedPath())
		p.mu.Unlock()
		lapi.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(lts.Close)
	p.leaderURL = lts.URL
	p.follower.follower = true
	p.follower.leaderID = "n1"
	p.follower.leaderAddr = strings.TrimPrefix(lts.URL, "http://")
	p.followerURL = serve(t, Config{NodeID: "n2"}, p.follower).URL
	return p
}

func (p *pair) seen() (headers, paths []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.forwardedHeaders...), append([]string(nil), p.paths...)
}

func TestForwardToLeader(t *testing.T) {
	p := newPair(t)
	steps := []struct {
		method, path, body string
		header             []string
		want               string
	}{
		{"POST", "/c/increment?by=3", "", nil, `{"name":"c","value":3}` + "\n"},
		{"POST", "/c/decrement?key=k", "", []string{"Idempotency-Key", "idem-1"}, `{"name":"c","key":"k","value":-1}` + "\n"},
		{"PUT", "/c/storage/a%2Fb", `{"y":1,"x":2}`, nil, `{"ok":true}` + "\n"},
		{"GET", "/c/storage/a%2Fb", "", nil, `{"x":2,"y":1}`},
		{"GET", "/c", "", nil, `{"name":"c","value":3}` + "\n"},
		{"GET", "/c/storage?prefix=a", "", nil, `{"entries":[{"key":"a/b","value":{"x":2,"y":1}}],"more":false}` + "\n"},
		{"POST", "/c/transaction", `{"success":[{"op":"increment","key":"value","by":2}]}`, nil, `{"succeeded":true,"results":[{"op":"increment","key":"value","value":5}]}` + "\n"},
		{"DELETE", "/c/storage/a%2Fb", "", nil, `{"deleted":true}` + "\n"},
		{"DELETE", "/c/storage", "", nil, `{"deleted":2}` + "\n"},
	}
	for _, st := range steps {
		r := call(t, p.followerURL, st.method, st.path, st.body, st.header...)
		expectOK(t, r, st.want)
	}
	headers, paths := p.seen()
	if len(headers) != len(steps) {
		t.Fatalf("leader saw %d requests, want %d", len(headers), len(steps))
	}
	for i, h := range headers {
		if h != "n2" {
			t.Errorf("request %d reached the leader with X-Dobj-Forwarded %q, want n2", i, h)
		}
	}
	if paths[2] != "/c/storage/a%2Fb" {
		t.Errorf("forwarded path = %q, want the escape kept", paths[2])
	}
	lw := p.leader.writeCalls()
	if len(lw) != 6 {
		t.Fatalf("leader writes = %d, want 6", len(lw))
	}
	if lw[1].IdemKey != "idem-1" {
		t.Fatalf("Idempotency-Key not forwarded: %+v", lw[1])
	}
	if string(lw[2].Txn.Success[0].Value) != `{"x":2,"y":1}` || lw[2].Txn.Success[0].Key != "a/b" {
		t.Fatalf("forwarded put = %+v", lw[2].Txn.Success[0])
	}
	if p.follower.readCount() != 0 {
		t.Fatalf("follower served a linearizable read itself")
	}
}

func TestStaleReadServedLocally(t *testing.T) {
	p := newPair(t)
	r := call(t, p.followerURL, "GET", "/c?consistency=stale", "")
	expectOK(t, r, `{"name":"c","value":0}`+"\n")
	if h, _ := p.seen(); len(h) != 0 {
		t.Fatalf("stale read was forwarded")
	}
	if p.follower.readCount() != 1 {
		t.Fatalf("follower reads = %d, want 1", p.follower.readCount())
	}
}

func TestForwardLoopGuard(t *testing.T) {
	p := newPair(t)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/c/increment", ""},
		{"PUT", "/c/storage/k", "1"},
		{"GET", "/c", ""},
		{"POST", "/_cluster/join", `{"id":"n4","raft_addr":"127.0.0.1:9"}`},
	} {
		r := call(t, p.followerURL, rt.method, rt.path, rt.body, "X-Dobj-Forwarded", "n3")
		expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	}
	if h, _ := p.seen(); len(h) != 0 {
		t.Fatalf("a forwarded request was forwarded again: %v", h)
	}
}

func TestForwardNoLeader(t *testing.T) {
	for _, leader := range []struct{ id, addr string }{{"", ""}, {"n1", ""}, {"n2", "127.0.0.1:1"}} {
		node := newFakeNode()
		node.follower = true
		node.leaderID, node.leaderAddr = leader.id, leader.addr
		ts := serve(t, Config{NodeID: "n2"}, node)
		r := call(t, ts.URL, "POST", "/c/increment", "")
		p := expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
		}
		if p.Detail == "" {
			t.Fatal("no detail")
		}
	}
}

// A leader that cannot be reached at all: nothing was sent, 503.
func TestForwardLeaderUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	node := newFakeNode()
	node.follower = true
	node.leaderAddr = "http://" + addr
	ts := serve(t, Config{NodeID: "n2"}, node)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/c/increment", ""},
		{"PUT", "/c/storage/k", "1"},
		{"GET", "/c", ""},
	} {
		expectProblem(t, call(t, ts.URL, rt.method, rt.path, rt.body), http.StatusServiceUnavailable, "unavailable")
	}
}

// A leader whose connection breaks after it got the request: a write may
// have been applied (504), a read changed nothing (503).
func TestForwardConnectionLostAfterSend(t *testing.T) {
	var mu sync.Mutex
	got := 0
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(leader.Close)
	node := newFakeNode()
	node.follower = true
	node.leaderAddr = leader.URL
	ts := serve(t, Config{NodeID: "n2"}, node)
	cases := []struct {
		method, path, body string
		status             int
		typ                string
	}{
		{"POST", "/c/increment", "", 504, "outcome-unknown"},
		{"PUT", "/c/storage/k", "1", 504, "outcome-unknown"},
		{"POST", "/c/transaction", `{}`, 504, "outcome-unknown"},
		{"DELETE", "/c/storage", "", 504, "outcome-unknown"},
		{"GET", "/c", "", 503, "unavailable"},
		{"GET", "/c/storage?limit=1", "", 503, "unavailable"},
	}
	for _, c := range cases {
		expectProblem(t, call(t, ts.URL, c.method, c.path, c.body), c.status, c.typ)
	}
	mu.Lock()
	defer mu.Unlock()
	if got < len(cases) {
		t.Fatalf("leader got %d requests, want at least %d", got, len(cases))
	}
}

func TestForwardMembership(t *testing.T) {
	p := newPair(t)
	expectOK200(t, call(t, p.followerURL, "POST", "/_cluster/join", `{"id":"n4","raft_addr":"127.0.0.1:9084","http_addr":"127.0.0.1:8084"}`))
	expectOK200(t, call(t, p.followerURL, "DELETE", "/_cluster/members/n4", ""))
	if len(p.leader.joins) != 1 || p.leader.joins[0] != (joinRequest{"n4", "127.0.0.1:9084", "127.0.0.1:8084"}) {
		t.Fatalf("leader joins = %+v", p.leader.joins)
	}
	if len(p.leader.removes) != 1 || p.leader.removes[0] != "n4" {
		t.Fatalf("leader removes = %+v", p.leader.removes)
	}
}

func expectOK200(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK || r.body != `{"ok":true}`+"\n" {
		t.Fatalf("got %d %s, want 200 {\"ok\":true}", r.status, r.body)
	}
}
