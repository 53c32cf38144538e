package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/objects"
)

func TestWriteErrorMapping(t *testing.T) {
	const secret = "raft: secret internal detail"
	cases := []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"not applied", fmt.Errorf("%w: %s", cluster.ErrNotApplied, secret), 503, "unavailable"},
		{"outcome unknown", fmt.Errorf("%w: %s", cluster.ErrOutcomeUnknown, secret), 504, "outcome-unknown"},
		// May still commit, whatever else it wraps: never "failed".
		{"unknown within not applied", fmt.Errorf("%w: %w", cluster.ErrNotApplied, cluster.ErrOutcomeUnknown), 504, "outcome-unknown"},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), 504, "outcome-unknown"},
		{"conflict", &objects.ConflictError{Key: "value", Reason: "overflow"}, 409, "conflict"},
		{"wrapped conflict", fmt.Errorf("apply: %w", &objects.ConflictError{Key: "value", Reason: "not an integer"}), 409, "conflict"},
		{"invalid", fmt.Errorf("%w: %s", objects.ErrInvalid, secret), 400, "bad-request"},
		// An unforeseen failure of a write may still have applied it.
		{"unknown error", errors.New(secret), 504, "outcome-unknown"},
		// Not the leader, and no leader known to forward to.
		{"not leader", cluster.ErrNotLeader, 503, "unavailable"},
	}
	routes := []struct{ method, path, body string }{
		{"POST", "/o/increment", ""},
		{"POST", "/o/decrement?by=2", ""},
		{"PUT", "/o/storage/k", "1"},
		{"DELETE", "/o/storage/k", ""},
		{"DELETE", "/o/storage", ""},
		{"POST", "/o/transaction", `{"success":[{"op":"get","key":"k"}]}`},
	}
	for _, c := range cases {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				node := newFakeNode()
				node.writeErr = c.err
				ts := serve(t, Config{NodeID: "n1"}, node)
				r := call(t, ts.URL, rt.method, rt.path, rt.body)
				p := expectProblem(t, r, c.status, c.typ)
				if strings.Contains(r.body, "secret") {
					t.Fatalf("internal error text reached the client: %s", r.body)
				}
				if c.typ == "conflict" && !strings.Contains(p.Detail, "value") {
					t.Fatalf("conflict detail %q does not name the key", p.Detail)
				}
				if len(node.writeCalls()) != 1 {
					t.Fatalf("writes = %d, want 1", len(node.writeCalls()))
				}
			})
		}
	}
}

func TestReadErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"not applied", fmt.Errorf("%w: read barrier", cluster.ErrNotApplied), 503, "unavailable"},
		{"deadline", context.DeadlineExceeded, 504, "outcome-unknown"},
		{"unknown", errors.New("boom secret"), 500, "internal"},
	}
	for _, c := range cases {
		for _, path := range []string{"/o", "/o/storage/k", "/o/storage"} {
			t.Run(c.name+" "+path, func(t *testing.T) {
				node := newFakeNode()
				node.readErr = c.err
				ts := serve(t, Config{}, node)
				r := call(t, ts.URL, "GET", path, "")
				expectProblem(t, r, c.status, c.typ)
				if strings.Contains(r.body, "secret") {
					t.Fatalf("internal error text reached the client: %s", r.body)
				}
			})
		}
	}
}

// A write that never finishes ends when the request's deadline does, as
// 504: it may still commit.
func TestStuckWriteIsOutcomeUnknown(t *testing.T) {
	node := newFakeNode()
	node.blockWrite = true
	ts := serve(t, Config{RequestTimeout: 50 * time.Millisecond}, node)
	start := time.Now()
	r := call(t, ts.URL, "POST", "/o/increment", "")
	expectProblem(t, r, http.StatusGatewayTimeout, "outcome-unknown")
	if len(node.writeCalls()) != 1 {
		t.Fatalf("write was not proposed")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v: the deadline was not applied", time.Since(start))
	}
}

func TestProblemForTable(t *testing.T) {
	cases := []struct {
		err    error
		status int
	}{
		{errNotFound, 404},
		{badRequest("x"), 400},
		{tooLarge("x"), 413},
		{objects.ErrConflict, 409},
		{cluster.ErrNotApplied, 503},
		{cluster.ErrOutcomeUnknown, 504},
		{context.Canceled, 504},
		{cluster.ErrFaultsDisabled, 400},
		{errors.New("other"), 500},
	}
	for _, c := range cases {
		p := problemFor(c.err)
		if p.Status != c.status || p.Type != problemTypes[c.status] || p.Title != http.StatusText(c.status) {
			t.Errorf("problemFor(%v) = %+v, want status %d", c.err, p, c.status)
		}
	}
}

// Failures are logged with the node id and the internal error, which the
// client never sees (a 503 at debug level only); a panic becomes a 500.
func TestFailuresAreLogged(t *testing.T) {
	var buf syncBuffer
	node := newFakeNode()
	node.writeErr = fmt.Errorf("%w: raft said secret-cause", cluster.ErrNotApplied)
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	ts := serve(t, Config{NodeID: "n7", Logger: slog.New(slog.NewJSONHandler(&buf, debug))}, node)
	r := call(t, ts.URL, "POST", "/o/increment", "")
	expectProblem(t, r, 503, "unavailable")
	if strings.Contains(r.body, "secret-cause") {
		t.Fatalf("internal text in response: %s", r.body)
	}
	logs := buf.String()
	if !strings.Contains(logs, `"node":"n7"`) || !strings.Contains(logs, "secret-cause") {
		t.Fatalf("log lacks node id or cause: %s", logs)
	}

	node.mu.Lock()
	node.writeErr, node.panicWrite = nil, true
	node.mu.Unlock()
	expectProblem(t, call(t, ts.URL, "PUT", "/o/storage/k", "1"), 500, "internal")
	if !strings.Contains(buf.String(), "fake write panics") {
		t.Fatalf("panic not logged: %s", buf.String())
	}
	// A request that succeeds is not logged.
	node.mu.Lock()
	node.panicWrite = false
	node.mu.Unlock()
	before := buf.String()
	expectOK(t, call(t, ts.URL, "POST", "/o/increment", ""), `{"name":"o","value":1}`+"\n")
	if buf.String() != before {
		t.Fatalf("a successful request was logged: %s", strings.TrimPrefix(buf.String(), before))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
