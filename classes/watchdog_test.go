package classes

import (
	"context"
	"testing"
	"time"
)

// TestWatchdogServesEverySegmentOfACall: a call's segments, one after
// another, share one watchdog and its timer (loops in later segments are
// still stopped: TestLimits' loop-after-await and loop-in-timer), and
// each segment is measured from its own start.
func TestWatchdogServesEverySegmentOfACall(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	c := newCall(context.Background(), nil, &cfg)
	defer c.stop()
	first := watch(c, time.Second)
	firstTimer := first.t
	time.Sleep(5 * time.Millisecond) // a segment that takes some time
	if used, _ := first.stop(); used < 5*time.Millisecond {
		t.Fatalf("first segment used %v, want at least 5ms", used)
	}
	second := watch(c, time.Second)
	if second != first || second.t != firstTimer {
		t.Fatal("the call's second segment got a new watchdog or timer")
	}
	if used, _ := second.stop(); used >= 5*time.Millisecond {
		t.Fatalf("second segment used %v: measured from the first's start", used)
	}
	if !second.idle() {
		t.Fatal("a stopped watchdog is not idle")
	}
}
