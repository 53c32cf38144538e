package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/auth"
)

func TestAuthRoles(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r\nwrite w\nadmin a\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := newFakeNode()
	ts := serve(t, Config{Auth: toks}, node)
	tests := []struct {
		name, method, path, body, token string
		status                          int
	}{
		{"health is open", "GET", "/_health", "", "", 200},
		{"ready is open", "GET", "/_ready", "", "", 200},
		{"no token", "GET", "/o", "", "", 401},
		{"unknown token", "GET", "/o", "", "x", 401},
		{"unknown path without token", "GET", "/_nope/x", "", "", 401},
		{"read reads", "GET", "/o", "", "r", 200},
		{"read reads status", "GET", "/_cluster/status", "", "r", 200},
		{"read cannot write", "POST", "/o/increment", "", "r", 403},
		{"write writes", "POST", "/o/increment", "", "w", 200},
		{"write reads", "GET", "/o/storage", "", "w", 200},
		{"write cannot join", "POST", "/_cluster/join", `{"id":"n9","raft_addr":"h:1"}`, "w", 403},
		{"write cannot remove", "DELETE", "/_cluster/members/n9", "", "w", 403},
		{"write cannot back up", "GET", "/_cluster/backup", "", "w", 403},
		{"write cannot touch classes", "GET", "/_classes", "", "w", 403},
		{"admin joins", "POST", "/_cluster/join", `{"id":"n9","raft_addr":"h:1"}`, "a", 200},
		{"admin writes", "PUT", "/o/storage/k", "1", "a", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.token != "" {
				h = []string{"Authorization", "Bearer " + tt.token}
			}
			r := call(t, ts.URL, tt.method, tt.path, tt.body, h...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status == 401 || r.status == 403 {
				var p problem
				if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.header.Get("Content-Type") != "application/problem+json" || p.Status != r.status {
					t.Fatalf("not a problem+json: %q %q", r.header.Get("Content-Type"), r.body)
				}
			}
		})
	}
	if n := len(node.writeCalls()); n != 2 {
		t.Fatalf("%d writes reached the node, want the 2 allowed", n)
	}
}

func TestBearer(t *testing.T) {
	for _, tt := range []struct {
		h, token string
		ok       bool
	}{{"Bearer abc", "abc", true}, {"bearer abc", "abc", true}, {"Basic abc", "", false}, {"Bearer ", "", false}, {"Bearer", "", false}, {"", "", false}} {
		if tok, ok := bearer(tt.h); tok != tt.token || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v", tt.h, tok, ok)
		}
	}
}

// TestInFlightCap: past MaxInFlight requests being served, the next is
// 429 with Retry-After at once (not queued); probes still answer.
func TestInFlightCap(t *testing.T) {
	node := newFakeNode()
	node.blockWrite = true
	ts := serve(t, Config{MaxInFlight: 2, RequestTimeout: 5e9}, node)
	done := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		go func() {
			// The answer does not matter (the fake blocks until the
			// request ends); call's t.Fatal cannot run off the test's
			// goroutine.
			if resp, err := http.Post(ts.URL+"/o/increment", "", nil); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	pollUntil(t, 5*time.Second, "two writes in flight", func() bool { return len(node.writeCalls()) == 2 })
	r := call(t, ts.URL, "GET", "/o", "")
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("past the cap: %d %v %s", r.status, r.header, r.body)
	}
	if r := call(t, ts.URL, "GET", "/_health", ""); r.status != 200 {
		t.Fatalf("health past the cap: %d", r.status)
	}
	node.mu.Lock()
	node.blockWrite = false
	node.mu.Unlock()
	ts.CloseClientConnections()
	<-done
	<-done
	if r := call(t, ts.URL, "GET", "/o", ""); r.status != 200 {
		t.Fatalf("after the slots freed: %d %s", r.status, r.body)
	}
}

// pollUntil polls cond every 10ms until it holds, failing after d.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
