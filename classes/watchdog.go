package classes

import (
	"runtime/metrics"
	"sync"
	"time"
)

// watchEvery is how often a watchdog looks at a running segment of
// JavaScript. Segments shorter than this (most) cost one timer and no
// look.
const watchEvery = 10 * time.Millisecond

// liveHeapMetric is the Go heap that survived the last GC: the measure of
// growth a watchdog uses (garbage other goroutines make does not count).
const liveHeapMetric = "/gc/heap/live:bytes"

// watchdog stops one segment of JavaScript that runs past the call's CPU
// budget, or while the live heap grows by more than Config.MaxHeapGrowth:
// goja has no memory limit of its own, and `for (;;) a.push(0)` would
// exhaust the node's memory well before 30 s of CPU. The heap is the
// process's, so the growth is measured from the segment's first look and
// the bound is generous; a call that runs while the node grows for other
// reasons may be blamed.
//
// A call's segments run one after another, so a call keeps one watchdog
// and its timer for all of them (call.watchdog): making a timer and a
// watchdog for each segment cost a few per cent of a busy leader's CPU.
// A look that was due as one segment stopped and runs as the next has
// begun looks at that one, early, which bounds nothing less.
type watchdog struct {
	c *call

	mu      sync.Mutex
	start   time.Time
	budget  time.Duration
	growth  uint64 // 0: no memory check
	t       *time.Timer
	stopped bool
	heap0   uint64 // the live heap at the segment's first look, 0 before it
	sample  []metrics.Sample

	allocs []metrics.Sample // allocsMetric, read at the start and the stop
	alloc0 uint64
}

// watch starts a watchdog over a segment that may use budget of CPU: the
// call's own, unless it watches a segment still (none does: segments do
// not nest), or a new one.
func watch(c *call, budget time.Duration) *watchdog {
	w := c.watchdog
	if w == nil || !w.idle() {
		w = &watchdog{c: c, allocs: []metrics.Sample{{Name: allocsMetric}}, stopped: true}
		if c.watchdog == nil {
			c.watchdog = w
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start, w.budget, w.stopped, w.heap0 = time.Now(), budget, false, 0
	w.growth = 0
	if c.cfg.MaxHeapGrowth > 0 {
		w.growth = uint64(c.cfg.MaxHeapGrowth)
	}
	w.alloc0 = allocated(w.allocs)
	if w.t == nil {
		w.t = time.AfterFunc(min(budget, watchEvery), w.look)
	} else {
		w.t.Reset(min(budget, watchEvery))
	}
	return w
}

// idle reports whether w watches no segment.
func (w *watchdog) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped
}

// stop ends the watch and returns the segment's duration and the bytes
// the process allocated meanwhile.
func (w *watchdog) stop() (time.Duration, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
	return time.Since(w.start), allocated(w.allocs) - w.alloc0
}

func (w *watchdog) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	used := time.Since(w.start)
	if used >= w.budget {
		w.c.interrupt(errorf(ErrCPULimit, "ran JavaScript for %s", w.c.cfg.CPULimit))
		return
	}
	if w.growth > 0 {
		if w.sample == nil {
			w.sample = []metrics.Sample{{Name: liveHeapMetric}}
		}
		metrics.Read(w.sample)
		if w.sample[0].Value.Kind() == metrics.KindUint64 {
			live := w.sample[0].Value.Uint64()
			switch {
			case w.heap0 == 0:
				w.heap0 = live
			case live > w.heap0+w.growth:
				w.c.interrupt(errorf(ErrMemoryLimit, "the live heap grew by %d MiB while it ran, over %d MiB",
					(live-w.heap0)>>20, w.growth>>20))
				return
			}
		}
	}
	w.t.Reset(min(w.budget-used, watchEvery))
}
