package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dobj/dobj/auth"
)

// TestOpenNodeRefusesOtherSites: a node without tokens refuses what a
// page of another site can make a browser send — a cross-site or
// same-site request, an Origin that is no member's page, a JSON route
// posted as text/plain or a form, a Host that is not one of its names
// (DNS rebinding) — and nothing of it reaches the node; its own pages,
// its members' and clients that are no browser are served.
func TestOpenNodeRefusesOtherSites(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{Hosts: []string{"dobj.internal:443"}}, node)
	join := `{"id":"n9","raft_addr":"10.9.9.9:9081"}`
	for _, tt := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
	}{
		{"a cross-site text/plain join", "POST", "/_cluster/join", join, []string{"Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}, 403},
		{"a join from another site's page", "POST", "/_cluster/join", join, []string{"Origin", "http://evil.example"}, 403},
		{"a sandboxed page's write", "POST", "/o/increment", "", []string{"Origin", "null"}, 403},
		{"an <img> of another port of this host", "GET", "/do/C/o/write", "", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"a cross-site navigation", "POST", "/o/increment", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"a join as text/plain", "POST", "/_cluster/join", join, []string{"Content-Type", "text/plain"}, 415},
		{"a join as a form", "POST", "/_cluster/join", join, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"a join without a type", "POST", "/_cluster/join", join, []string{"Content-Type", ""}, 415},
		{"a put as a form", "PUT", "/o/storage/k", "1", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415},
		{"a transaction as text", "POST", "/o/transaction", `{"success":[]}`, []string{"Content-Type", "text/plain"}, 415},
		{"a rebound name", "GET", "/o", "", []string{"Host", "evil.example:8081"}, 403},
		{"a rebound name with its own Origin", "POST", "/o/increment", "", []string{"Host", "evil.example:8081", "Origin", "http://evil.example:8081"}, 403},
	} {
		r := call(t, ts.URL, tt.method, tt.path, tt.body, tt.header...)
		if r.status != tt.status || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: %d %s, want %d problem+json", tt.name, r.status, r.body, tt.status)
		}
	}
	if len(node.joins) != 0 || len(node.writeCalls()) != 0 {
		t.Fatalf("refused requests reached the node: joins %v, writes %v", node.joins, node.writeCalls())
	}

	for _, tt := range []struct {
		name, method, path, body string
		header                   []string
	}{
		{"a client that is no browser", "POST", "/o/increment", "", nil},
		{"this node's page", "POST", "/o/increment", "", []string{"Origin", ts.URL, "Sec-Fetch-Site", "same-origin"}},
		{"a member's page", "GET", "/o", "", []string{"Origin", "http://127.0.0.1:8081", "Sec-Fetch-Site", "same-site"}},
		{"the address bar", "GET", "/o", "", []string{"Sec-Fetch-Site", "none"}},
		{"a JSON join", "POST", "/_cluster/join", join, []string{"Content-Type", "application/json; charset=utf-8"}},
		{"a +json put", "PUT", "/o/storage/k", "1", []string{"Content-Type", "application/merge-patch+json"}},
		{"localhost", "GET", "/o", "", []string{"Host", "localhost:8081"}},
		{"a configured name", "GET", "/o", "", []string{"Host", "DOBJ.internal"}},
		{"the console from anywhere", "GET", "/", "", []string{"Sec-Fetch-Site", "cross-site"}},
		{"a probe", "GET", "/_health", "", []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		if r := call(t, ts.URL, tt.method, tt.path, tt.body, tt.header...); r.status != 200 {
			t.Fatalf("%s: %d %s, want 200", tt.name, r.status, r.body)
		}
	}
}

// TestNodeWithTokensTakesBearerRequestsFromAnywhere: with tokens, a
// request carrying a bearer header was sent by who holds it, so neither
// its Host nor its type is checked (the console's cookie has its own
// check).
func TestNodeWithTokensTakesBearerRequestsFromAnywhere(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("write w\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, Config{Auth: toks}, newFakeNode())
	r := call(t, ts.URL, "PUT", "/o/storage/k", "1", "Authorization", "Bearer w", "Host", "dobj.example", "Content-Type", "text/plain")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
