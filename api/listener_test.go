package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveRaw serves the API over a real net/http server on a
// ProblemListener, so that net/http's own answers go through it.
func serveRaw(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newFakeServer(Config{NodeID: "n1"}, newFakeNode())
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ProblemListener(ln, 0))
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return ln.Addr().String()
}

// rawRoundTrip writes req on a new connection (concurrently, since the
// server may answer before it has read it all) and reads one response.
func rawRoundTrip(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, req)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func TestNetHTTPsOwnAnswersAreProblems(t *testing.T) {
	addr := serveRaw(t)
	cases := []struct {
		name, req string
		status    int
		typ       string
		detail    string
	}{
		{"3 MiB key in the URL", "PUT /o/storage/" + strings.Repeat("k", 3<<20) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1",
			431, "too-large", "larger than 1048576 bytes"},
		{"no Host header", "GET /o HTTP/1.1\r\n\r\n", 400, "bad-request", "missing required Host header"},
		{"not HTTP", "HELLO\r\n\r\n", 400, "bad-request", "not valid HTTP/1.1"},
		{"unknown transfer encoding", "POST /o/increment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not-implemented", "not valid HTTP/1.1"},
		{"unknown version", "GET /o HTTP/9.1\r\nHost: x\r\n\r\n", 505, "http-version-not-supported", "unsupported protocol version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawRoundTrip(t, addr, c.req)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json (body %q)", ct, body)
			}
			var p problem
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if p.Status != c.status || p.Type != c.typ || p.Title != http.StatusText(c.status) || !strings.Contains(p.Detail, c.detail) {
				t.Fatalf("problem %+v, want status %d type %q detail containing %q", p, c.status, c.typ, c.detail)
			}
		})
	}
}

// TestProblemListenerPassesResponsesThrough: the handlers' own answers,
// on a kept-alive connection, come through unchanged.
func TestProblemListenerPassesResponsesThrough(t *testing.T) {
	addr := serveRaw(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	quoted := `"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"`
	for i, want := range []struct {
		req    string
		status int
		ct     string
		body   string
	}{
		{"POST /c/increment HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "application/json", `{"name":"c","value":1}` + "\n"},
		// A stored value that quotes a canned answer comes back as JSON,
		// escaped, so it cannot be taken for one.
		{"PUT /c/storage/k HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(quoted)) + "\r\n\r\n" + quoted, 200, "application/json", `{"ok":true}` + "\n"},
		{"GET /c/storage/k HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "application/json", quoted},
		{"GET /c/storage/nope HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, "application/problem+json", ""},
	} {
		if _, err := io.WriteString(conn, want.req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.status || resp.Header.Get("Content-Type") != want.ct || (want.body != "" && string(b) != want.body) {
			t.Fatalf("request %d: %d %s %q, want %d %s %q", i, resp.StatusCode, resp.Header.Get("Content-Type"), b, want.status, want.ct, want.body)
		}
	}
}
