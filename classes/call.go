package classes

import (
	"context"
	"log/slog"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// call is the state of one fetch or alarm on an instance: the storage it
// reads and the writes it makes, its timers and its CPU budget.
type call struct {
	ctx   context.Context
	state State
	cfg   *Config
	// object names the object for console's log lines; log is made from
	// it on first use.
	object string
	log    *slog.Logger

	ov       overlay
	saves    map[int64]overlay // transaction savepoints by token
	sqlSaves map[int64]sqlSave // and their SQL savepoints, on a SQLite-backed object
	nextSave int64
	written  int // bytes of keys and values put, against MaxWriteBytes

	timers    []*timer
	nextTimer int64
	// blocking are blockConcurrencyWhile's promises, waiting are
	// waitUntil's: both settle before the call commits.
	blocking []*goja.Promise
	waiting  []*goja.Promise
	// thrown maps the error objects the engine threw to the Go errors they
	// stand for, so a ScriptError can carry the sentinel.
	thrown map[*goja.Object]error

	// deleteAllAlarm: deleteAll() deletes the alarm too
	// (ClassRef.DeleteAllDeletesAlarm).
	deleteAllAlarm bool

	ws *socketCall // WebSocket sends held by the output gate (websocket.go)
	io ioQueue     // I/O in flight (asyncio.go)
	// reentry, when set, lets the call lend its object's gate (reentry.go).
	reentry *reentry

	// outbound are the call's fetches in flight (fetch.go), which are
	// also its I/O (io).
	outbound     []*outbound
	nextOutbound int64

	cpuUsed time.Duration
	// watchdog watches the call's segments of JavaScript, one at a time.
	watchdog *watchdog
	// allocSinceLook, heap0, gcCycles and heapSample: what chargeHeap
	// (memory.go) counts and compares.
	allocSinceLook, heap0, gcCycles uint64
	heapSample                      []metrics.Sample
	stopCtx                         func() bool

	mu      sync.Mutex // guards the interrupt state below (timers call interrupt)
	rt      *goja.Runtime
	running bool
	fired   error // why the runtime was interrupted, nil if it was not
}

type timer struct {
	id    int64
	when  time.Time
	every time.Duration // setInterval's period, 0 for setTimeout
	fn    goja.Callable
	// fnValue is fn as a value, for measuring what the timer holds.
	fnValue goja.Value
	args    []goja.Value
}

func newCall(ctx context.Context, state State, cfg *Config) *call {
	c := &call{ctx: ctx, state: state, cfg: cfg}
	c.stopCtx = context.AfterFunc(ctx, func() { c.interrupt(ctx.Err()) })
	return c
}

// stop ends the call: its fetches still in flight are canceled.
func (c *call) stop() {
	c.stopCtx()
	for _, op := range c.outbound {
		op.cancel()
	}
}

// interrupt stops the JavaScript running for c, if any, with reason.
func (c *call) interrupt(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fired != nil {
		return
	}
	c.fired = reason
	if c.running {
		c.rt.Interrupt(reason)
	}
}

// enter marks JavaScript running on rt; it returns why not to run, if the
// call was interrupted already.
func (c *call) enter(rt *goja.Runtime) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rt = rt
	if c.fired != nil {
		return c.fired
	}
	c.running = true
	return nil
}

// leave marks JavaScript stopped. An interrupt that came too late to be seen
// is cleared so it cannot hit the runtime's next run.
func (c *call) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = false
	if c.fired != nil {
		c.rt.ClearInterrupt()
	}
}

// popTimer removes and returns the timer due first (by time, then by
// id), nil when none is pending.
func (c *call) popTimer() *timer {
	if len(c.timers) == 0 {
		return nil
	}
	i := 0
	for j, t := range c.timers {
		if first := c.timers[i]; t.when.Before(first.when) || t.when.Equal(first.when) && t.id < first.id {
			i = j
		}
	}
	t := c.timers[i]
	c.timers = slices.Delete(c.timers, i, i+1)
	return t
}
