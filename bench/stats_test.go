package bench

import (
	"math"
	"testing"
	"time"
)

func near(got, want float64) bool { return math.Abs(got-want) <= want*0.001+1e-9 }

func TestRecorderPercentiles(t *testing.T) {
	r := newRecorder()
	// 1..1000 ms, shuffled order does not matter to a histogram.
	for i := 1000; i >= 1; i-- {
		r.success(time.Duration(i) * time.Millisecond)
	}
	r.failure("503")
	r.failure("503")
	r.failure("timeout")
	s := r.stats(2 * time.Second)
	if s.Successes != 1000 || s.Errors != 3 || s.Ops != s.Successes+s.Errors {
		t.Fatalf("counts %+v", s)
	}
	if s.OpsPerSec != 500 {
		t.Fatalf("ops/s %v, want 1000 successes / 2s = 500", s.OpsPerSec)
	}
	l := s.LatencyMs
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500},
		{"p95", l.P95, 950},
		{"p99", l.P99, 990},
		{"max", l.Max, 1000},
		{"mean", l.Mean, 500.5},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v ms, want %v within 0.1%%", c.name, c.got, c.want)
		}
	}
	if r.byStatus["503"] != 2 || r.byStatus["timeout"] != 1 {
		t.Fatalf("by status %v", r.byStatus)
	}
}

func TestRecorderSubMillisecondAndClamp(t *testing.T) {
	r := newRecorder()
	for range 99 {
		r.success(250 * time.Microsecond)
	}
	r.success(2 * time.Minute) // beyond the histogram: counted as its maximum
	r.success(0)               // below it: counted as 1 µs
	s := r.stats(time.Second)
	if s.Successes != 101 {
		t.Fatalf("successes %d, want 101", s.Successes)
	}
	if !near(s.LatencyMs.P50, 0.25) {
		t.Fatalf("p50 %v ms, want 0.25", s.LatencyMs.P50)
	}
	if s.LatencyMs.Max != float64(histMax)/1000 {
		t.Fatalf("max %v ms, want the histogram's ceiling %v", s.LatencyMs.Max, float64(histMax)/1000)
	}
}

func TestRecorderMerge(t *testing.T) {
	a, b := newRecorder(), newRecorder()
	for i := 1; i <= 100; i++ {
		a.success(time.Duration(i) * time.Millisecond)
		b.success(time.Duration(100+i) * time.Millisecond)
	}
	a.failure("504")
	b.failure("504")
	b.failure("transport")
	all := newRecorder()
	all.merge(a)
	all.merge(b)
	s := all.stats(time.Second)
	if s.Successes != 200 || s.Errors != 3 || s.Ops != 203 {
		t.Fatalf("merged counts %+v", s)
	}
	if !near(s.LatencyMs.P50, 100) || !near(s.LatencyMs.Max, 200) {
		t.Fatalf("merged latencies %+v, want p50 100 and max 200", s.LatencyMs)
	}
	if all.byStatus["504"] != 2 || all.byStatus["transport"] != 1 {
		t.Fatalf("merged by status %v", all.byStatus)
	}
}

func TestEmptyRecorder(t *testing.T) {
	s := newRecorder().stats(time.Second)
	if s != (Stats{}) {
		t.Fatalf("empty stats %+v", s)
	}
}
