package host

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestTailHub: console lines of a script reach its subscribers (an
// object's with its class and object, a debug line below the node's
// level too), other lines and other scripts' do not, the node's log
// still gets what its level takes, and a subscriber that does not read
// loses lines past its queue, counted, without blocking the logger.
func TestTailHub(t *testing.T) {
	var logged bytes.Buffer
	hub := NewTailHub("n1")
	log := slog.New(hub.Handler(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo})))
	sub := hub.Subscribe("app")
	defer sub.Close()
	other := hub.Subscribe("other")
	defer other.Close()

	worker := log.With("component", "classes").With("script", "app")
	worker.Info("hello", "source", "console")
	worker.Debug("quiet", "source", "console")
	worker.Info("not console")
	log.With("class", "app:Counter").With("object", "c1").Warn("from object", "source", "console")
	log.With("class", "Plain").Info("a /_classes class", "source", "console")

	var got []TailLine
	for len(sub.C()) > 0 {
		got = append(got, <-sub.C())
	}
	want := []TailLine{
		{Level: "info", Message: "hello", Node: "n1", Script: "app"},
		{Level: "debug", Message: "quiet", Node: "n1", Script: "app"},
		{Level: "warn", Message: "from object", Node: "n1", Script: "app", Class: "Counter", Object: "c1"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		got[i].Time = want[i].Time
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(other.C()) != 0 {
		t.Errorf("another script's subscriber got %d lines", len(other.C()))
	}
	if s := logged.String(); !strings.Contains(s, "msg=hello") || strings.Contains(s, "quiet") || !strings.Contains(s, "msg=\"not console\"") {
		t.Errorf("the node's log should keep its level:\n%s", s)
	}

	for range TailQueue + 10 {
		worker.Info("flood", "source", "console")
	}
	if len(sub.C()) != TailQueue || sub.Dropped() != 10 {
		t.Errorf("a full queue: %d queued, %d dropped; want %d and 10", len(sub.C()), sub.Dropped(), TailQueue)
	}
	sub.Close()
	sub.Close()
	if hub.n.Load() != 1 {
		t.Errorf("subscribers after Close: %d", hub.n.Load())
	}
}
