package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRPCIdempotencyKey: dobj rpc sends --idempotency-key as the
// request's Idempotency-Key; a 504 says that the outcome is unknown and
// whether sending the call again is safe.
func TestRPCIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/_scripts/app/objects/Counter/c1/rpc/increment" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		s := status
		mu.Unlock()
		if s == http.StatusGatewayTimeout {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(s)
			io.WriteString(w, `{"type":"outcome-unknown","title":"Gateway Timeout","status":504,"detail":"the command may or may not have been applied"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "5")
	}))
	defer ts.Close()
	env := getenvOf(map[string]string{"DOBJ_URL": ts.URL})
	rpc := []string{"rpc", "app", "Counter", "c1", "increment", "5"}
	var out strings.Builder
	if err := run(context.Background(), append(rpc, "--idempotency-key", "k-1"), env, &out, io.Discard); err != nil || out.String() != "5\n" {
		t.Fatalf("dobj rpc --idempotency-key = %q, %v", out.String(), err)
	}
	if err := run(context.Background(), rpc, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	status = http.StatusGatewayTimeout
	mu.Unlock()
	err := run(context.Background(), append(rpc, "--idempotency-key", "k-2"), env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "504") || !strings.Contains(err.Error(), "outcome of the call is unknown") ||
		!strings.Contains(err.Error(), `same --idempotency-key "k-2" is safe`) {
		t.Fatalf("dobj rpc --idempotency-key answered 504: %v; want the outcome unknown and a resend with the key safe", err)
	}
	err = run(context.Background(), rpc, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "outcome of the call is unknown") || !strings.Contains(err.Error(), "may apply it twice") {
		t.Fatalf("dobj rpc without a key answered 504: %v; want the outcome unknown and a resend unsafe", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"k-1", "", "k-2", ""}; strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("Idempotency-Keys sent %q; want %q", keys, want)
	}
}
