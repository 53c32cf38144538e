package check

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// progressEvery is how often Run prints a progress line, as dobj bench
// does: a person watching a run of minutes sees that it goes on.
const progressEvery = time.Second

// progress prints a line every interval until ctx ends: the time since
// the start, the operations so far with their outcomes, and the fault in
// progress.
func progress(ctx context.Context, w io.Writer, every time.Duration, h *history, nem *nemesis) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Fprintln(w, progressLine(h, nem))
		}
	}
}

// progressLine is one progress line: "check: 12.0s  9154 ops  ok 9000
// fail 140 unknown 14  fault: kill-leader n2".
func progressLine(h *history, nem *nemesis) string {
	t := h.totals()
	fault := nem.inProgress()
	if fault == "" {
		fault = "none"
	}
	return fmt.Sprintf("check: %5.1fs  %7d ops  ok %d  fail %d  unknown %d  fault: %s",
		time.Duration(h.now()).Seconds(), t.OK+t.Fail+t.Unknown, t.OK, t.Fail, t.Unknown, fault)
}

// totals sums the outcomes of every operation so far.
func (h *history) totals() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	var t Counts
	for _, c := range h.counts {
		t.OK += c.OK
		t.Fail += c.Fail
		t.Unknown += c.Unknown
	}
	return t
}

// inProgress names the fault being applied ("kill-leader n2"), or "".
func (n *nemesis) inProgress() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

func (n *nemesis) setInProgress(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.current = s
}

// lockedWriter serializes writes to Config.Log, which need not be safe
// for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
