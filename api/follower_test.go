package api

import (
	"net/http"
	"testing"
)

// A node that knows no leader answers 503 with Retry-After, for writes
// and linearizable reads alike: nothing was applied. (A node that knows
// one takes the request there itself, in the cluster package.)
func TestNoLeaderIs503(t *testing.T) {
	node := newFakeNode()
	node.follower = true
	ts := serve(t, Config{NodeID: "n2"}, node)
	for _, req := range []struct{ method, path string }{{"POST", "/c/increment"}, {"GET", "/c"}, {"PUT", "/c/storage/k"}} {
		r := call(t, ts.URL, req.method, req.path, `1`)
		p := expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("%s %s: Retry-After = %q, want 1", req.method, req.path, r.header.Get("Retry-After"))
		}
		if p.Detail == "" {
			t.Fatalf("%s %s: no detail", req.method, req.path)
		}
	}
}

// A stale read is served from the node's own state, leader or not.
func TestStaleReadServedLocally(t *testing.T) {
	node := newFakeNode()
	node.follower = true
	ts := serve(t, Config{NodeID: "n2"}, node)
	r := call(t, ts.URL, "GET", "/c?consistency=stale", "")
	expectOK(t, r, `{"name":"c","value":0}`+"\n")
	if node.readCount() != 1 {
		t.Fatalf("reads = %d, want 1", node.readCount())
	}
}

func expectOK200(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK || r.body != `{"ok":true}`+"\n" {
		t.Fatalf("got %d %s, want 200 {\"ok\":true}", r.status, r.body)
	}
}
