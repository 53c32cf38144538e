package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/watch"
)

// TestConsoleSignIn: the console's page is open, its data is not; a
// sign-in starts a session kept by the node and sets an HttpOnly,
// SameSite=Strict cookie holding only its random id, which then counts
// as the token, but only for requests the browser says come from this
// page or from none, or from a member's page; signing out ends it.
func TestConsoleSignIn(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r\nwrite w\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1", Auth: toks}, node)
	for _, path := range []string{"/", "/_console/app.js"} {
		if r := call(t, ts.URL, "GET", path, ""); r.status != 200 {
			t.Fatalf("GET %s with auth on: %d, want the console open", path, r.status)
		}
	}
	if r := call(t, ts.URL, "GET", "/_console/session", ""); r.status != 200 || r.body != `{"auth":true,"role":"none"}`+"\n" {
		t.Fatalf("session before signing in: %d %s", r.status, r.body)
	}

	page := []string{"Origin", ts.URL, "Sec-Fetch-Site", "same-origin"}
	signIn := func(body string, header ...string) response {
		return call(t, ts.URL, "POST", "/_console/session", body, append([]string{"Content-Type", "application/json"}, header...)...)
	}
	for _, tt := range []struct {
		name, body string
		header     []string
		status     int
	}{
		{"unknown token", `{"token":"nope"}`, page, 401},
		{"no token", `{}`, page, 400},
		{"misspelt field", `{"tokn":"w"}`, page, 400},
		{"from another site's page", `{"token":"w"}`, []string{"Origin", "http://evil.example"}, 403},
		{"from another port of this host", `{"token":"w"}`, []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"from no browser", `{"token":"w"}`, nil, 403},
	} {
		if r := signIn(tt.body, tt.header...); r.status != tt.status || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s: %d (cookie %q), want %d and no cookie: %s", tt.name, r.status, r.header.Get("Set-Cookie"), tt.status, r.body)
		}
	}

	r := signIn(`{"token":"w"}`, page...)
	if r.status != 200 || r.body != `{"auth":true,"role":"write"}`+"\n" {
		t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	cookie := r.header.Get("Set-Cookie")
	id := sessionID(t, cookie, "dobj_session_n1")
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, attr) {
			t.Fatalf("cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Domain") || id == "w" || len(id) < 40 {
		t.Fatalf("cookie %q: want a random id of its own, no token, no Domain", cookie)
	}
	withCookie := func(method, path string, header ...string) response {
		return call(t, ts.URL, method, path, "", append([]string{"Cookie", "dobj_session_n1=" + id}, header...)...)
	}
	for _, tt := range []struct {
		name, method, path string
		header             []string
		status             int
	}{
		{"a read from the address bar", "GET", "/o", []string{"Sec-Fetch-Site", "none"}, 200},
		{"a write from this node's page", "POST", "/o/increment", page, 200},
		{"a member's page reading status", "GET", "/_cluster/status", []string{"Origin", "http://127.0.0.1:8081", "Sec-Fetch-Site", "same-site"}, 200},
		{"a write from another site's page", "POST", "/o/increment", []string{"Origin", "http://evil.example"}, 401},
		{"an <img> of another port of this host", "GET", "/o", []string{"Sec-Fetch-Site", "same-site"}, 401},
		{"a read the browser calls cross-site", "GET", "/o", []string{"Sec-Fetch-Site", "cross-site"}, 401},
		{"a client that is no browser", "POST", "/o/increment", nil, 401},
		{"the role still bounds it", "GET", "/_classes", page, 403},
	} {
		if r := withCookie(tt.method, tt.path, tt.header...); r.status != tt.status {
			t.Fatalf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
	if n := len(node.writeCalls()); n != 1 {
		t.Fatalf("%d writes reached the node, want the 1 from this node's page", n)
	}
	if r := call(t, ts.URL, "GET", "/o", "", "Cookie", "dobj_session_n1=w", "Sec-Fetch-Site", "same-origin"); r.status != 401 {
		t.Fatalf("the token itself as the cookie: %d, want 401", r.status)
	}
	if r := withCookie("GET", "/_console/session", page...); r.body != `{"auth":true,"role":"write"}`+"\n" {
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

	// A member's page signs in here too, after a CORS preflight.
	r = call(t, ts.URL, "OPTIONS", "/_console/session", "", "Origin", "http://127.0.0.1:8081", "Access-Control-Request-Method", "POST")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8081" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("a member's preflight: %d %v", r.status, r.header)
	}
	if r := call(t, ts.URL, "OPTIONS", "/_console/session", "", "Origin", "http://evil.example"); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another site's preflight: %d %v", r.status, r.header)
	}

	r = withCookie("DELETE", "/_console/session", page...)
	if c := r.header.Get("Set-Cookie"); r.status != http.StatusNoContent || !strings.Contains(c, "dobj_session_n1=;") || !strings.Contains(c, "Max-Age=0") {
		t.Fatalf("sign out: %d, cookie %q", r.status, c)
	}
	if r := withCookie("GET", "/o", page...); r.status != 401 {
		t.Fatalf("the signed-out session's cookie kept: %d, want 401", r.status)
	}
}

// sessionID is the value of cookie name in a Set-Cookie header.
func sessionID(t *testing.T, setCookie, name string) string {
	t.Helper()
	c, err := http.ParseSetCookie(setCookie)
	if err != nil || c.Name != name || c.Value == "" {
		t.Fatalf("Set-Cookie %q (%v): want a cookie %s", setCookie, err, name)
	}
	return c.Value
}

// TestConsoleSessionsRevoked: a session ends when its token leaves the
// auth file (at the reload), and the sessions a node keeps are bounded.
func TestConsoleSessionsRevoked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("write w\nread r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := auth.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newFakeServer(Config{Auth: toks}, newFakeNode())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	page := []string{"Content-Type", "application/json", "Sec-Fetch-Site", "same-origin"}
	w := sessionID(t, call(t, ts.URL, "POST", "/_console/session", `{"token":"w"}`, page...).header.Get("Set-Cookie"), "dobj_session")
	rd := sessionID(t, call(t, ts.URL, "POST", "/_console/session", `{"token":"r"}`, page...).header.Get("Set-Cookie"), "dobj_session")
	if err := os.WriteFile(path, []byte("read r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := toks.Reload(); err != nil {
		t.Fatal(err)
	}
	s.Reauthorize()
	if err := os.WriteFile(path, []byte("write w\nread r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := toks.Reload(); err != nil {
		t.Fatal(err)
	}
	// The token is back, but its session ended with the first reload.
	if r := call(t, ts.URL, "GET", "/o", "", "Cookie", "dobj_session="+w, "Sec-Fetch-Site", "same-origin"); r.status != 401 {
		t.Fatalf("the removed token's session: %d, want 401", r.status)
	}
	if r := call(t, ts.URL, "GET", "/o", "", "Cookie", "dobj_session="+rd, "Sec-Fetch-Site", "same-origin"); r.status != 200 {
		t.Fatalf("the kept token's session: %d, want 200", r.status)
	}

	for i := 0; i < maxSessions+10; i++ {
		s.sessions.create("r", time.Now())
	}
	if n := s.sessions.len(); n != maxSessions {
		t.Fatalf("%d sessions kept, want at most %d", n, maxSessions)
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
// listener wrapper, so requests carry no TLS state) names the cookie
// __Host-… and marks it Secure; over plain HTTP it is neither.
func TestConsoleCookieSecureOverTLS(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("write w\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, https := range []bool{false, true} {
		ts := serve(t, Config{Auth: toks, HTTPS: https}, newFakeNode())
		r := call(t, ts.URL, "POST", "/_console/session", `{"token":"w"}`, "Sec-Fetch-Site", "same-origin")
		c := r.header.Get("Set-Cookie")
		if got := strings.Contains(c, "Secure") && strings.HasPrefix(c, "__Host-dobj_session="); r.status != 200 || got != https {
			t.Fatalf("HTTPS %v: %d, cookie %q", https, r.status, c)
		}
	}
}

// TestSignOutEndsTheSessionsStreams: the watches a console session
// opened end when it signs out; those of a bearer token stay.
func TestSignOutEndsTheSessionsStreams(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r\n"))
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.NewHub(watch.Options{})
	ts := serve(t, Config{Auth: toks, Watches: hub}, newFakeNode())
	page := []string{"Sec-Fetch-Site", "same-origin"}
	id := sessionID(t, call(t, ts.URL, "POST", "/_console/session", `{"token":"r"}`, page...).header.Get("Set-Cookie"), "dobj_session")
	_, console := stream(t, ts.URL+"/o/watch", "Cookie", "dobj_session="+id, "Sec-Fetch-Site", "same-origin")
	expectEvent(t, console, `ready 0 {"index":0,"oldest":0}`)
	_, bearer := stream(t, ts.URL+"/o/watch", "Authorization", "Bearer r")
	expectEvent(t, bearer, `ready 0 {"index":0,"oldest":0}`)
	if r := call(t, ts.URL, "DELETE", "/_console/session", "", "Cookie", "dobj_session="+id, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusNoContent {
		t.Fatalf("sign out: %d", r.status)
	}
	select {
	case ev, ok := <-console:
		if ok {
			t.Fatalf("the signed-out session's watch got %s, want its end", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the signed-out session's watch is still open")
	}
	hub.ObjectsChanged(change(1, "o", "k", "1"))
	expectEvent(t, bearer, `change 1 {"index":1,"object":"o","changes":[{"key":"k","value":1}]}`)
}
