package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputChangesNothing sends every kind of bad request through the
// real binary, to a follower (which may forward) and to the leader: each
// gets its 4xx problem+json and the state stays exactly as it was.
func TestBadInputChangesNothing(t *testing.T) {
	c := newCluster(t, 3)
	c.start()
	leader := c.leader()
	var follower *node
	for _, nd := range c.nodes {
		if nd != leader {
			follower = nd
			break
		}
	}
	setup := []struct{ method, path, body string }{
		{http.MethodPost, "/card-1/increment?by=5", ""},
		{http.MethodPut, "/card-3/storage/value", `"a string"`},
		{http.MethodPut, "/card-3/storage/big", `9223372036854775807`},
	}
	for _, s := range setup {
		var body []byte
		if s.body != "" {
			body = []byte(s.body)
		}
		if r := c.do(s.method, leader.url()+s.path, body, nil); r.status != http.StatusOK {
			t.Fatalf("%s %s: %s", s.method, s.path, r)
		}
	}
	before := c.sameDigest()

	longKey := strings.Repeat("k", 2049)
	longName := strings.Repeat("n", 257)
	bigValue := `"` + strings.Repeat("v", 128<<10) + `"`
	hugeBody := `"` + strings.Repeat("v", 2<<20) + `"`
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int // 0: any 4xx
	}{
		{"reserved name", http.MethodPost, "/_card/increment", "", http.StatusBadRequest},
		{"reserved name in storage", http.MethodPut, "/_card/storage/k", `1`, http.StatusBadRequest},
		{"name too long", http.MethodPost, "/" + longName + "/increment", "", 0},
		{"empty key", http.MethodPut, "/card-1/storage/", `1`, 0},
		{"key too long", http.MethodPut, "/card-1/storage/" + longKey, `1`, http.StatusRequestEntityTooLarge},
		{"invalid JSON value", http.MethodPut, "/card-1/storage/k", `{"a":`, http.StatusBadRequest},
		{"not JSON at all", http.MethodPut, "/card-1/storage/k", `hello`, http.StatusBadRequest},
		{"by not an integer", http.MethodPost, "/card-1/increment?by=abc", "", http.StatusBadRequest},
		{"by a fraction", http.MethodPost, "/card-1/increment?by=1.5", "", http.StatusBadRequest},
		{"by beyond int64", http.MethodPost, "/card-1/decrement?by=9223372036854775808", "", http.StatusBadRequest},
		{"value over the limit", http.MethodPut, "/card-1/storage/k", bigValue, http.StatusRequestEntityTooLarge},
		{"body over the limit", http.MethodPut, "/card-1/storage/k", hugeBody, http.StatusRequestEntityTooLarge},
		{"increment a string", http.MethodPost, "/card-3/increment", "", http.StatusConflict},
		{"increment past int64", http.MethodPost, "/card-3/increment?key=big", "", http.StatusConflict},
		{"bad list limit", http.MethodGet, "/card-1/storage?limit=-1", "", http.StatusBadRequest},
		{"start and startAfter", http.MethodGet, "/card-1/storage?start=a&startAfter=b", "", http.StatusBadRequest},
		{"bad consistency", http.MethodGet, "/card-1?consistency=eventual", "", http.StatusBadRequest},
		{"transaction not JSON", http.MethodPost, "/card-1/transaction", `[`, http.StatusBadRequest},
		{"transaction unknown op", http.MethodPost, "/card-1/transaction", `{"success":[{"op":"explode","key":"k"}]}`, http.StatusBadRequest},
		{"transaction compare without value", http.MethodPost, "/card-1/transaction", `{"compare":[{"key":"k","op":"equal"}],"success":[{"op":"put","key":"k","value":1}]}`, http.StatusBadRequest},
		{"transaction on a string", http.MethodPost, "/card-3/transaction", `{"success":[{"op":"put","key":"x","value":1},{"op":"increment","key":"value","by":1}]}`, http.StatusConflict},
		{"join without id", http.MethodPost, "/_cluster/join", `{"raft_addr":"127.0.0.1:1"}`, http.StatusBadRequest},
		{"absent key", http.MethodGet, "/card-1/storage/absent", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		for _, nd := range []*node{follower, leader} {
			t.Run(tt.name+" via "+nd.id, func(t *testing.T) {
				var body []byte
				if tt.body != "" {
					body = []byte(tt.body)
				}
				r := c.do(tt.method, nd.url()+tt.path, body, nil)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if tt.status != 0 && r.status != tt.status || r.status < 400 || r.status > 499 {
					t.Fatalf("got %d %s, want %d", r.status, abbrev(r.body), tt.status)
				}
				checkProblem(t, r)
			})
		}
	}

	after := c.sameDigest()
	if after.Digest != before.Digest || after.Keys != before.Keys {
		t.Fatalf("bad input changed the state: %+v, before %+v", after, before)
	}
	if got := c.mustCounter(follower.url(), "card-1"); got != 5 {
		t.Fatalf("card-1 = %d, want 5", got)
	}
}

// checkProblem asserts that r is an application/problem+json answer that
// agrees with its status.
func checkProblem(t *testing.T, r response) {
	t.Helper()
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", r.header.Get("Content-Type"))
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", abbrev(r.body), err)
	}
	want := map[int]string{400: "bad-request", 404: "not-found", 409: "conflict", 413: "too-large"}[r.status]
	if p.Status != r.status || p.Title == "" || (want != "" && !strings.HasSuffix(p.Type, want)) {
		t.Errorf("problem %+v does not fit status %d (type %q)", p, r.status, want)
	}
}

func abbrev(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%s… (%d bytes)", bytes.TrimSpace(b[:200]), len(b))
	}
	return string(bytes.TrimSpace(b))
}
