package classes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/objects"
)

// Request is the HTTP request a call hands to fetch. URL is absolute, with
// its query string.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Response is what fetch answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// State reads the committed storage of one object; the caller implements it
// over its store. Values are JSON as stored. It is read only while the
// object's gate is held, so it needs no locking against the call's own
// commit; the caller makes it safe against its other writers.
type State interface {
	// Get returns key's value, false when absent.
	Get(key string) (json.RawMessage, bool)
	// List returns the entries in range, in key order (reverse order with
	// Reverse), at most Limit of them when Limit > 0. The options it gets
	// are valid (not both Start and StartAfter, Limit >= 0).
	List(opts objects.ListOptions) []objects.Entry
	// Alarm returns the object's alarm time in unix milliseconds, false
	// when none is set.
	Alarm() (atMillis int64, ok bool)
}

// Effects is everything one call wants committed, as one command, applied
// in order.
type Effects struct {
	// Ops are objects.OpPut, OpDelete and OpDeleteAll (first, when
	// present); values are canonical compact JSON.
	Ops []objects.Op
	// Alarm is nil when the call left the alarm as it was.
	Alarm *AlarmChange
}

// Empty reports whether e changes nothing, so the caller may skip Raft.
func (e Effects) Empty() bool { return len(e.Ops) == 0 && e.Alarm == nil }

// AlarmChange sets the alarm to At (unix milliseconds) or deletes it.
type AlarmChange struct {
	Delete bool
	At     int64
}

// AlarmInfo is the argument of alarm(): how many times this alarm has been
// retried after failures.
type AlarmInfo struct {
	RetryCount int
	IsRetry    bool
}

// ClassRef names the class version a call runs. An object's instance is
// rebuilt when Version (or Program) differs from the one it was built with.
type ClassRef struct {
	Name    string
	Version uint64
	Program *Program
	// Reentrant: its RPCs open the object's gate while they await
	// another object or a promise only another request can settle
	// (reentry.go); a script's classes are.
	Reentrant bool
	// IDName, for a call to a script's object, is the name the object's
	// id was made from (idFromName, getByName), which the caller checked
	// derives the id; "" when the id came without one. The object's
	// ctx.id.name answers it from then on.
	IDName string
	// DeleteAllDeletesAlarm: storage.deleteAll() deletes the alarm too,
	// as Cloudflare's does for a compatibility date from
	// DeleteAllDeletesAlarmFrom on.
	DeleteAllDeletesAlarm bool
}

// DeleteAllDeletesAlarmFrom is the first compatibility date whose
// deleteAll() deletes the object's alarm with its data (Cloudflare's
// change of 24 February 2026, for key-value and SQLite-backed objects
// alike); before it the alarm stays.
const DeleteAllDeletesAlarmFrom = "2026-02-24"

// DefaultCPULimit bounds the JavaScript time of one call unless
// Config.CPULimit says otherwise; serve's --class-cpu-limit defaults to it.
const DefaultCPULimit = 30 * time.Second

// Config sets an Engine's limits. Zero values take the defaults.
type Config struct {
	Logger *slog.Logger
	// CPULimit bounds the JavaScript execution of one call (default
	// DefaultCPULimit):
	// the time the runtime runs, not the time it waits on timers.
	CPULimit time.Duration
	// MaxHeapGrowth bounds how much the node's live Go heap may grow while
	// one segment of a call's JavaScript runs (default 256 MiB; negative:
	// no bound): past it the call stops with ErrMemoryLimit. The heap is
	// the process's, so a call running while the node grows for other
	// reasons may be blamed: keep the bound generous.
	MaxHeapGrowth int64
	// MaxRuntimeBytes bounds what one shared runtime holds between and
	// across calls — module globals, what a call's timers keep — measured
	// by walking it (memory.go; default 128 MiB, as a Workers isolate;
	// negative: no bound). A
	// runtime over it is retired, and the call that took it there fails
	// with ErrMemoryLimit; the class's next call gets a fresh runtime.
	MaxRuntimeBytes int64
	// MaxStackDepth bounds nested JavaScript calls (default 10,000).
	MaxStackDepth int
	// MaxResponseBytes bounds fetch's response body (default 1 MiB).
	MaxResponseBytes int
	// MaxValueBytes bounds one stored value's JSON (default
	// objects.DefaultMaxValueBytes, as the built-in routes).
	MaxValueBytes int
	// MaxKeyBytes bounds one storage key (default
	// objects.DefaultMaxKeyBytes).
	MaxKeyBytes int
	// MaxWriteBytes bounds the keys and values one call writes, so one
	// call's command stays small (default 8 MiB).
	MaxWriteBytes int
	// MaxStringLength bounds, in UTF-16 units, a string that repeat,
	// padStart, padEnd or join would build (default 16 Mi): refused before
	// it is allocated.
	MaxStringLength int
	// MaxArrayLength bounds the elements Array.prototype.fill, Array.from
	// of an array-like, and typed-array and ArrayBuffer constructors (in
	// 8-byte units) may allocate in one step (default 4 Mi).
	MaxArrayLength int
	// MaxTimers bounds the pending timers of one call (default 10,000).
	MaxTimers int
	// MaxInstances bounds the live object instances (default 1,024). An
	// instance is its class object and context on a shared runtime (tens
	// of KiB; BenchmarkCallCounterColdObjects reports it), and rebuilding
	// one runs its constructor again, so the bound trades memory against
	// rebuilding objects that fell out of the LRU; the least recently used
	// idle one goes first.
	MaxInstances int
	// RuntimesPerClass bounds the goja runtimes the instances of one class
	// version share, and so how many of its calls run JavaScript at once
	// (default: the larger of 4 and GOMAXPROCS; see runtimes.go): more
	// spreads one object's long-running JavaScript over fewer of its
	// neighbours, fewer keeps the runtimes warm in the CPU's caches.
	RuntimesPerClass int
	// OutboundAllow are the hosts global fetch may reach (serve's
	// --outbound-allow): "host" (on its scheme's default port),
	// "host:port", "host:*" (any port), "*.domain" (the names under
	// domain) or "*" (any host). Empty, the default: none; fetch rejects
	// with a TypeError that says so.
	OutboundAllow []string
	// OutboundTimeout bounds one outbound fetch, within the call's own
	// deadline (default DefaultOutboundTimeout); its response body is
	// bounded by MaxResponseBytes.
	OutboundTimeout time.Duration

	outbound *http.Client // made by setDefaults from OutboundAllow
}

// WithDefaults returns c with its zero values replaced by the defaults
// NewEngine uses, for callers that need the limits in force.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CPULimit <= 0 {
		c.CPULimit = DefaultCPULimit
	}
	if c.MaxHeapGrowth == 0 {
		c.MaxHeapGrowth = 256 << 20
	}
	if c.MaxRuntimeBytes == 0 {
		c.MaxRuntimeBytes = 128 << 20
	}
	if c.MaxStackDepth <= 0 {
		c.MaxStackDepth = 10_000
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 20
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = objects.DefaultMaxValueBytes
	}
	if c.MaxKeyBytes <= 0 {
		c.MaxKeyBytes = objects.DefaultMaxKeyBytes
	}
	if c.MaxWriteBytes <= 0 {
		c.MaxWriteBytes = 8 << 20
	}
	if c.MaxStringLength <= 0 {
		c.MaxStringLength = 16 << 20
	}
	if c.MaxArrayLength <= 0 {
		c.MaxArrayLength = 4 << 20
	}
	if c.MaxTimers <= 0 {
		c.MaxTimers = 10_000
	}
	if c.MaxInstances <= 0 {
		c.MaxInstances = 1024
	}
	if c.RuntimesPerClass <= 0 {
		c.RuntimesPerClass = max(4, runtime.GOMAXPROCS(0))
	}
	if c.OutboundTimeout <= 0 {
		c.OutboundTimeout = DefaultOutboundTimeout
	}
	if c.outbound == nil {
		c.outbound = outboundClient(c.OutboundAllow)
	}
}

// Engine runs the objects of deployed classes, one call at a time per
// object, their instances on runtimes shared by the objects of a class.
type Engine struct {
	cfg      Config
	slots    slots
	runtimes runtimes
	sockets  socketRegistry // WebSockets, which outlive instances (websocket.go)

	// Counters for Stats.
	built, calls, failed, cpuLimited atomic.Uint64
	cpuNanos                         atomic.Int64
}

// Stats are an Engine's counters since NewEngine, for metrics.
type Stats struct {
	Instances  int           // live now
	Runtimes   int           // goja runtimes the live instances share
	Built      uint64        // instances built (cold starts, rebuilds)
	Calls      uint64        // fetch and alarm calls run
	Failed     uint64        // calls that ended in an error of any kind
	CPULimited uint64        // calls stopped by the CPU limit
	CPUTime    time.Duration // JavaScript time of all calls
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Instances:  e.slots.instances(),
		Runtimes:   e.runtimes.count(),
		Built:      e.built.Load(),
		Calls:      e.calls.Load(),
		Failed:     e.failed.Load(),
		CPULimited: e.cpuLimited.Load(),
		CPUTime:    time.Duration(e.cpuNanos.Load()),
	}
}

// NewEngine returns an Engine with cfg's limits.
func NewEngine(cfg Config) *Engine {
	cfg.setDefaults()
	e := &Engine{cfg: cfg}
	e.runtimes.init(&e.cfg)
	e.slots.init(cfg.MaxInstances, func(in *instance) { e.runtimes.unref(in.vm) })
	return e
}

// Call runs fetch(request) of object `object` of class ref. Calls to one
// object run one at a time in arrival order (the input gate), across awaits
// and including commit: the gate is held from before the first State read
// until commit returns, so the next call sees this one's writes. Calls to
// different objects run in parallel.
//
// commit gets the call's Effects (maybe empty: then the caller may skip
// Raft) and the Response; Call returns the Response only after commit
// succeeded. A fetch that throws or rejects commits nothing and returns a
// *ScriptError. Any failure — including commit's error, returned as is —
// discards the instance (its memory may be ahead of storage); the next call
// rebuilds it from storage.
func (e *Engine) Call(ctx context.Context, ref ClassRef, object string, req *Request, state State, commit func(Effects, *Response) error) (*Response, error) {
	var resp *Response
	err := e.run(ctx, ref, object, state, func(in *instance) error {
		r, err := in.fetch(req)
		if err != nil {
			return err
		}
		if err := in.outside(func() error { return commit(in.call.ov.effects(), r) }); err != nil {
			return err
		}
		resp = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Alarm runs alarm({retryCount, isRetry}) of object `object`, through the
// same gate as Call. While it runs the alarm reads as unset; unless the
// handler sets or deletes it, the Effects delete it, so a successful alarm
// is cleared by its own commit. A throw is a *ScriptError; a class without
// alarm() is a *ScriptError too.
func (e *Engine) Alarm(ctx context.Context, ref ClassRef, object string, info AlarmInfo, state State, commit func(Effects) error) error {
	return e.run(ctx, ref, object, state, func(in *instance) error {
		in.call.ov.alarm = &AlarmChange{Delete: true}
		if err := in.alarm(info); err != nil {
			return err
		}
		return in.outside(func() error { return commit(in.call.ov.effects()) })
	})
}

// Forget drops every instance of class name (after a redeploy or delete):
// later calls rebuild them from storage. A call running now finishes on its
// instance, which is then dropped.
func (e *Engine) Forget(class string) {
	e.runtimes.forget(class)
	e.slots.forget(class)
}

// Instances is the number of live object instances (for metrics and tests).
func (e *Engine) Instances() int { return e.slots.instances() }

// run takes object's gate, gets or builds its instance, runs body with a
// fresh call on it, and gives the instance back — or drops it on failure.
func (e *Engine) run(ctx context.Context, ref ClassRef, object string, state State, body func(*instance) error) (err error) {
	if ref.Program == nil {
		return errors.New("classes: ClassRef without a Program")
	}
	s, in, epoch, err := e.slots.acquire(ctx, slotKey{class: ref.Name, object: object})
	if err != nil {
		return err
	}
	keep := false
	var c *call
	defer func() {
		if c != nil && c.reentry != nil && c.reentry.lost {
			e.slots.leave(s)
			return
		}
		e.slots.release(s, in, keep)
	}()

	c = newCall(ctx, state, &e.cfg)
	c.object = object
	c.deleteAllAlarm = ref.DeleteAllDeletesAlarm
	c.ws = e.newSocketCall(slotKey{class: ref.Name, object: object})
	if ref.Reentrant {
		c.reentry = &reentry{slots: &e.slots, s: &s, key: slotKey{class: ref.Name, object: object}}
	}
	defer c.stop()
	e.calls.Add(1)
	defer func() {
		e.cpuNanos.Add(int64(c.cpuUsed))
		if err != nil {
			e.failed.Add(1)
			if errors.Is(err, ErrCPULimit) {
				e.cpuLimited.Add(1)
			}
		}
	}()
	if in == nil || in.version != ref.Version || in.program != ref.Program || in.vm.retired.Load() {
		vm, err := e.runtimes.pick(ctx, ref)
		if err != nil {
			in = nil
			return err
		}
		in = &instance{vm: vm, version: ref.Version, program: ref.Program, epoch: epoch}
	}
	if in, err = e.takeTurn(ctx, ref, in, epoch); err != nil {
		keep = in.object != nil // nothing ran: a built instance is as it was
		return err
	}
	in.begin(c)
	defer func() {
		if c.reentry == nil || !c.reentry.lost { // else others run on it
			in.end()
		}
		in.vm.give()
		if errors.Is(err, ErrMemoryLimit) || errors.Is(err, errPanic) {
			e.runtimes.retire(in.vm)
		}
	}()
	if in.object == nil {
		if err := in.construct(object, ref.IDName); err != nil {
			return err
		}
		e.built.Add(1)
	} else {
		in.nameID(ref.IDName)
	}
	if err := body(in); err != nil {
		return err
	}
	c.ws.release() // committed: what the call sent goes out
	c.io.launch()  // and the calls out it queued and did not await
	keep = true
	return nil
}

// takeTurn takes the turn of in's runtime for a call and returns the
// instance the call runs on: in, or, when a neighbour holds in's runtime
// for longer than turnPatience (long JavaScript, a loop until the CPU
// limit), a new instance of the object on a runtime whose turn is free,
// as if in had been evicted, if the class has one.
func (e *Engine) takeTurn(ctx context.Context, ref ClassRef, in *instance, epoch uint64) (*instance, error) {
	took, err := in.vm.takeWithin(ctx, turnPatience)
	if err != nil || took {
		return in, err
	}
	if in.object != nil {
		vm, err := e.runtimes.pickFree(ctx, ref, in.vm)
		if err != nil {
			return in, err
		}
		if vm != nil {
			in = &instance{vm: vm, version: ref.Version, program: ref.Program, epoch: epoch}
		}
	}
	return in, in.vm.takeBefore(ctx)
}

// turnPatience is how long a call waits for its instance's runtime before
// it moves the object to a runtime whose turn is free: far longer than a
// call's JavaScript usually runs, far shorter than the CPU limit.
const turnPatience = 100 * time.Millisecond

// errorf wraps a sentinel with detail.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
