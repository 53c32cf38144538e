package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to one minute, with
// three significant digits (0.1% error); slower answers count as a minute.
const (
	histMin     = 1
	histMax     = int64(time.Minute / time.Microsecond)
	histSigFigs = 3
)

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Stats summarise one op kind, or all of them.
type Stats struct {
	Ops       int64   `json:"ops"`       // successes + errors
	Successes int64   `json:"successes"` // 2xx answers; the latencies are theirs
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"` // successes per second
	LatencyMs Latency `json:"latency_ms"`
}

// recorder collects the outcome of every measured op of one kind. Workers
// share it under a mutex: one lock per request costs far less than the
// request, and one histogram per op kind keeps memory small whatever -c is.
type recorder struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	maxUs    int64 // exact, the histogram's Max is rounded
	errors   int64
	byStatus map[string]int64
}

func newRecorder() *recorder {
	return &recorder{hist: hdrhistogram.New(histMin, histMax, histSigFigs), byStatus: map[string]int64{}}
}

func (r *recorder) success(d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	r.mu.Lock()
	// In range by construction: RecordValue cannot fail.
	_ = r.hist.RecordValue(us)
	r.maxUs = max(r.maxUs, us)
	r.mu.Unlock()
}

func (r *recorder) failure(status string) {
	r.mu.Lock()
	r.errors++
	r.byStatus[status]++
	r.mu.Unlock()
}

// merge adds o's outcomes to r.
func (r *recorder) merge(o *recorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	r.hist.Merge(o.hist)
	r.maxUs = max(r.maxUs, o.maxUs)
	r.errors += o.errors
	for s, n := range o.byStatus {
		r.byStatus[s] += n
	}
}

// stats summarises the recorder over elapsed.
func (r *recorder) stats(elapsed time.Duration) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := r.hist.TotalCount()
	s := Stats{Ops: ok + r.errors, Successes: ok, Errors: r.errors}
	if elapsed > 0 {
		s.OpsPerSec = float64(ok) / elapsed.Seconds()
	}
	if ok > 0 {
		s.LatencyMs = Latency{
			P50:  usToMs(r.hist.ValueAtPercentile(50)),
			P95:  usToMs(r.hist.ValueAtPercentile(95)),
			P99:  usToMs(r.hist.ValueAtPercentile(99)),
			Max:  usToMs(r.maxUs),
			Mean: r.hist.Mean() / 1000,
		}
	}
	return s
}

func usToMs(us int64) float64 { return float64(us) / 1000 }
