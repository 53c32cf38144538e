package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dobj/dobj/auth"
)

// TestConsoleSignIn: the console's page is open, its data is not; a
// sign-in keeps a known token in an HttpOnly, SameSite=Strict cookie that
// then counts as the token, but only for requests from no page or from a
// page of the cluster.
func TestConsoleSignIn(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r\nwrite w\nwrite semi;colon\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := newFakeNode()
	ts := serve(t, Config{Auth: toks}, node)
	for _, path := range []string{"/", "/_console/app.js"} {
		if r := call(t, ts.URL, "GET", path, ""); r.status != 200 {
			t.Fatalf("GET %s with auth on: %d, want the console open", path, r.status)
		}
	}
	if r := call(t, ts.URL, "GET", "/_console/session", ""); r.status != 200 || r.body != `{"auth":true,"role":"none"}`+"\n" {
		t.Fatalf("session before signing in: %d %s", r.status, r.body)
	}

	signIn := func(body string, header ...string) response {
		return call(t, ts.URL, "POST", "/_console/session", body, append([]string{"Content-Type", "application/json"}, header...)...)
	}
	for _, tt := range []struct {
		name, body string
		header     []string
		status     int
	}{
		{"unknown token", `{"token":"nope"}`, nil, 401},
		{"no token", `{}`, nil, 400},
		{"misspelt field", `{"tokn":"w"}`, nil, 400},
		{"from another site's page", `{"token":"w"}`, []string{"Origin", "http://evil.example"}, 403},
		{"a token a cookie cannot carry", `{"token":"semi;colon"}`, nil, 400},
	} {
		if r := signIn(tt.body, tt.header...); r.status != tt.status || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s: %d (cookie %q), want %d and no cookie: %s", tt.name, r.status, r.header.Get("Set-Cookie"), tt.status, r.body)
		}
	}

	r := signIn(`{"token":"w"}`, "Origin", ts.URL)
	cookie := r.header.Get("Set-Cookie")
	if r.status != 200 || r.body != `{"auth":true,"role":"write"}`+"\n" {
		t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	for _, attr := range []string{"dobj_token=w", "Path=/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, attr) {
			t.Fatalf("cookie %q lacks %s", cookie, attr)
		}
	}
	withCookie := func(method, path string, header ...string) response {
		return call(t, ts.URL, method, path, "", append([]string{"Cookie", "dobj_token=w"}, header...)...)
	}
	for _, tt := range []struct {
		name, method, path string
		header             []string
		status             int
	}{
		{"a read from no page", "GET", "/o", nil, 200},
		{"a write from this node's page", "POST", "/o/increment", []string{"Origin", ts.URL}, 200},
		{"a member's page reading status", "GET", "/_cluster/status", []string{"Origin", "http://127.0.0.1:8081"}, 200},
		{"a write from another site's page", "POST", "/o/increment", []string{"Origin", "http://evil.example"}, 401},
		{"a read the browser calls cross-site", "GET", "/o", []string{"Sec-Fetch-Site", "cross-site"}, 401},
		{"the role still bounds it", "GET", "/_classes", nil, 403},
	} {
		if r := withCookie(tt.method, tt.path, tt.header...); r.status != tt.status {
			t.Fatalf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
	if n := len(node.writeCalls()); n != 1 {
		t.Fatalf("%d writes reached the node, want the 1 from this node's page", n)
	}
	if r := withCookie("GET", "/_console/session"); r.body != `{"auth":true,"role":"write"}`+"\n" {
		t.Fatalf("session after signing in: %s", r.body)
	}

	// The cluster panel of a member's page reads status with the cookie:
	// the answer names that page, others get no credentials.
	r = withCookie("GET", "/_cluster/status", "Origin", "http://127.0.0.1:8081")
	if r.header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8081" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("status for a member's page: CORS %q %q", r.header.Get("Access-Control-Allow-Origin"), r.header.Get("Access-Control-Allow-Credentials"))
	}
	r = call(t, ts.URL, "GET", "/_cluster/status", "", "Origin", "http://evil.example", "Authorization", "Bearer r")
	if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("status for another page: CORS %q %q", r.header.Get("Access-Control-Allow-Origin"), r.header.Get("Access-Control-Allow-Credentials"))
	}

	r = withCookie("DELETE", "/_console/session", "Origin", ts.URL)
	if c := r.header.Get("Set-Cookie"); r.status != http.StatusNoContent || !strings.Contains(c, "dobj_token=;") || !strings.Contains(c, "Max-Age=0") {
		t.Fatalf("sign out: %d, cookie %q", r.status, c)
	}
}

// TestConsoleSessionWithoutAuth: a node that asks for no tokens says so,
// and signing in sets nothing.
func TestConsoleSessionWithoutAuth(t *testing.T) {
	ts := serve(t, Config{}, newFakeNode())
	if r := call(t, ts.URL, "GET", "/_console/session", ""); r.body != `{"auth":false}`+"\n" {
		t.Fatalf("session: %s", r.body)
	}
	r := call(t, ts.URL, "POST", "/_console/session", `{"token":"x"}`)
	if r.status != 200 || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("sign in without auth: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
}

// TestConsoleCookieSecureOverTLS: a node serving HTTPS (TLS below a
// listener wrapper, so requests carry no TLS state) marks the cookie
// Secure.
func TestConsoleCookieSecureOverTLS(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("write w\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, https := range []bool{false, true} {
		ts := serve(t, Config{Auth: toks, HTTPS: https}, newFakeNode())
		r := call(t, ts.URL, "POST", "/_console/session", `{"token":"w"}`)
		if got := strings.Contains(r.header.Get("Set-Cookie"), "Secure"); r.status != 200 || got != https {
			t.Fatalf("HTTPS %v: %d, cookie %q", https, r.status, r.header.Get("Set-Cookie"))
		}
	}
}
