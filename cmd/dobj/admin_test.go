package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// problemServer answers method path with a 504 outcome-unknown problem
// or, while status holds another code, with refusal (problem+json) at
// that code; anything else is a 404. It closes when the test ends.
func problemServer(t *testing.T, method, path string, status *atomic.Int32, refusal string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		if code := int(status.Load()); code != http.StatusGatewayTimeout {
			w.WriteHeader(code)
			io.WriteString(w, refusal)
			return
		}
		w.WriteHeader(http.StatusGatewayTimeout)
		io.WriteString(w, `{"type":"outcome-unknown","title":"Gateway Timeout","status":504,"detail":"the command may or may not have been applied"}`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestJoinOutcomeUnknown: a join answered 504 is reported as maybe
// applied, with what the person can do about it (look at the members,
// or send the same join again, which is safe), not with advice about an
// --idempotency-key that join does not take; a 4xx is reported as the
// refusal it is.
func TestJoinOutcomeUnknown(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusGatewayTimeout)
	url := problemServer(t, http.MethodPost, "/_cluster/join", &status,
		`{"type":"bad-request","title":"Bad Request","status":400,"detail":"a member needs an id and a raft address"}`)
	env := getenvOf(map[string]string{"DOBJ_URL": url})
	join := []string{"join", "n4", "127.0.0.1:9084", "127.0.0.1:8084"}
	err := run(context.Background(), join, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "504") || !strings.Contains(err.Error(), "the join may or may not have been applied") ||
		!strings.Contains(err.Error(), "dobj members") || !strings.Contains(err.Error(), "the same join again is safe") ||
		strings.Contains(err.Error(), "idempotency-key") {
		t.Fatalf("join answered 504: %v; want the outcome unknown, how to find it out, and no --idempotency-key", err)
	}
	if err := run(context.Background(), append(join, "--idempotency-key", "k"), env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "idempotency-key") {
		t.Fatalf("join --idempotency-key: %v; want the flag refused, as join ignores it", err)
	}
	status.Store(http.StatusBadRequest)
	err = run(context.Background(), join, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "400") || strings.Contains(err.Error(), "may or may not") {
		t.Fatalf("join answered 400: %v; want a plain refusal", err)
	}
}

// TestRemoveOutcomeUnknown: a remove answered 504 is reported as maybe
// applied, with what the person can do about it (look at the members,
// or send the same remove again, which is safe and answers 404 if the
// first one was applied), not with advice about an --idempotency-key
// that remove does not send; a 404 is reported as the refusal it is.
func TestRemoveOutcomeUnknown(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusGatewayTimeout)
	url := problemServer(t, http.MethodDelete, "/_cluster/members/n4", &status,
		`{"type":"not-found","title":"Not Found","status":404,"detail":"no member \"n4\" in the cluster; nothing was changed"}`)
	env := getenvOf(map[string]string{"DOBJ_URL": url})
	remove := []string{"remove", "n4"}
	err := run(context.Background(), remove, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "504") || !strings.Contains(err.Error(), "the remove may or may not have been applied") ||
		!strings.Contains(err.Error(), "dobj members") || !strings.Contains(err.Error(), "the same remove again is safe") ||
		!strings.Contains(err.Error(), "404 if n4 is already gone") || strings.Contains(err.Error(), "idempotency-key") {
		t.Fatalf("remove answered 504: %v; want the outcome unknown, how to find it out, and no --idempotency-key", err)
	}
	if err := run(context.Background(), append(remove, "--idempotency-key", "k"), env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "idempotency-key") {
		t.Fatalf("remove --idempotency-key: %v; want the flag refused, as remove does not send it", err)
	}
	status.Store(http.StatusNotFound)
	err = run(context.Background(), remove, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "may or may not") {
		t.Fatalf("remove answered 404: %v; want a plain refusal", err)
	}
}
