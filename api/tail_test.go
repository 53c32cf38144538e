package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/host"
)

// TestTailStream: GET /_scripts/<name>/tail sends ready, then a log event
// per console line of the script; it needs admin, and counts as a stream
// (per token, not in the request slots) as a watch does.
func TestTailStream(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("admin a\nread r\n"))
	if err != nil {
		t.Fatal(err)
	}
	hub := host.NewTailHub("n1")
	s := newFakeServer(Config{NodeID: "n1", Auth: toks, Tail: hub, MaxInFlight: 1, MaxStreamsPerToken: 2}, newFakeNode())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	if r := call(t, ts.URL, "GET", "/_scripts/app/tail", "", "Authorization", "Bearer r"); r.status != http.StatusForbidden {
		t.Fatalf("a tail with a read token: %d %s", r.status, r.body)
	}
	if r := call(t, ts.URL, "GET", "/_scripts/App!/tail", "", "Authorization", "Bearer a"); r.status != http.StatusBadRequest {
		t.Fatalf("a tail of a bad name: %d %s", r.status, r.body)
	}
	_, events := stream(t, ts.URL+"/_scripts/app/tail", "Authorization", "Bearer a")
	expectEvent(t, events, `ready {"node":"n1"}`)
	_, more := stream(t, ts.URL+"/_scripts/app/tail", "Authorization", "Bearer a")
	expectEvent(t, more, `ready {"node":"n1"}`)
	if r := call(t, ts.URL, "GET", "/_scripts/app/tail", "", "Authorization", "Bearer a"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a tail past the token's cap: %d %s", r.status, r.body)
	}
	if r := call(t, ts.URL, "GET", "/o", "", "Authorization", "Bearer r"); r.status != 200 {
		t.Fatalf("a read with tails open: %d %s", r.status, r.body)
	}
	log := slog.New(hub.Handler(slog.DiscardHandler)).With("script", "app")
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := slog.NewRecord(at, slog.LevelInfo, "hello", 0)
	r.AddAttrs(slog.String("source", "console"))
	if err := log.Handler().Handle(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, events, `log {"time":"2026-12-07T12:00:00Z","level":"info","message":"hello","node":"n1","script":"app"}`)
}
