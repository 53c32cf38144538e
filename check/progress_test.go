package check

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgressLines: a line each interval with the operations so far, by
// outcome, and the fault in progress.
func TestProgressLines(t *testing.T) {
	h := newHistory()
	for _, o := range []Outcome{OK, OK, Fail, Unknown} {
		h.count("counter increment", o)
	}
	h.count("register read", OK)
	nem := &nemesis{h: h}
	nem.setInProgress("kill-leader n2")

	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); progress(ctx, &out, 5*time.Millisecond, h, nem) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			for _, line := range strings.Split(out.String(), "\n") {
				all := true
				for _, w := range want {
					all = all && strings.Contains(line, w)
				}
				if all {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress line with %q in:\n%s", want, out.String())
			}
			time.Sleep(5 * time.Millisecond) // polling interval
		}
	}
	waitFor("check:", "5 ops", "ok 3", "fail 1", "unknown 1", "fault: kill-leader n2")
	nem.setInProgress("")
	h.count("register read", OK)
	waitFor("6 ops", "ok 4", "fault: none")

	// It returns when its context ends (the cleanup waits for that).
}
