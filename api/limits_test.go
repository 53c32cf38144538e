package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dobj/dobj/fsm"
)

// TestTransactionLimits: a transaction over the ops cap, or whose answer
// could pass MaxAnswerBytes, is a 413 problem and reaches no node.
func TestTransactionLimits(t *testing.T) {
	ops := func(n int, op string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"op":%q,"key":"k%d"}`, op, i)
		}
		return `{"success":[` + strings.Join(parts, ",") + `]}`
	}
	tests := []struct {
		name   string
		cfg    Config
		body   string
		status int
	}{
		{"128 gets", Config{}, ops(128, "get"), 200},
		{"129 gets", Config{}, ops(129, "get"), 413},
		{"129 ops across lists", Config{}, `{"compare":[{"key":"a","op":"exists"}],` + strings.TrimPrefix(ops(128, "delete"), "{"), 413},
		{"ops cap is a setting", Config{MaxOps: 4}, ops(5, "delete"), 413},
		{"answer cap: 8 gets of 1 KiB values in 4 KiB", Config{MaxValueBytes: 1024, MaxAnswerBytes: 4096}, ops(8, "get"), 413},
		{"answer cap: 8 deletes fit", Config{MaxValueBytes: 1024, MaxAnswerBytes: 4096}, ops(8, "delete"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newFakeNode()
			ts := serve(t, tt.cfg, node)
			r := call(t, ts.URL, "POST", "/o/transaction", tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 413 {
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				if n := len(node.writeCalls()); n != 0 {
					t.Fatalf("%d writes reached the node", n)
				}
			}
		})
	}
}

// TestListPageStopsAtAnswerCap: a list page holds at most MaxAnswerBytes
// of entries, with more=true.
func TestListPageStopsAtAnswerCap(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{MaxValueBytes: 1024, MaxAnswerBytes: 4096}, node)
	value := `"` + strings.Repeat("v", 1000) + `"`
	for i := 0; i < 10; i++ {
		if r := call(t, ts.URL, "PUT", fmt.Sprintf("/o/storage/k%d", i), value); r.status != 200 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	r := call(t, ts.URL, "GET", "/o/storage", "")
	var page listResponse
	if err := json.Unmarshal([]byte(r.body), &page); err != nil {
		t.Fatal(err)
	}
	if !page.More || len(page.Entries) == 0 || len(page.Entries) > 4 || len(r.body) > 4096+100 {
		t.Fatalf("page of %d entries, %d bytes, more=%v; want at most 4 KiB and more", len(page.Entries), len(r.body), page.More)
	}
}

// TestIdempotencyErrors: a reused key is 422, a full table 503 with
// Retry-After, both problem+json.
func TestIdempotencyErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		typ    string
	}{
		{fsm.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, "idempotency-key-reused"},
		{fsm.ErrIdempotencyFull, http.StatusServiceUnavailable, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			node := newFakeNode()
			node.writeErr = tt.err
			ts := serve(t, Config{}, node)
			r := call(t, ts.URL, "POST", "/o/increment", "", "Idempotency-Key", "k")
			var p problem
			if err := json.Unmarshal([]byte(r.body), &p); err != nil {
				t.Fatal(err)
			}
			if r.status != tt.status || p.Type != tt.typ || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %+v", r.status, p)
			}
			if tt.status == 503 && r.header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
}
