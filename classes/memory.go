package classes

import (
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/dop251/goja"
)

// A runtime's memory. goja has no heap of its own to measure: a runtime
// is Go values reachable from its *goja.Runtime, in the process's heap,
// and the watchdog's bound (Config.MaxHeapGrowth) sees only the growth
// of one segment of JavaScript. What a class keeps between segments —
// module globals grown call after call, an array a timer callback grows
// step after step — would go unbounded; so each runtime's size is
// measured by walking what it reaches, and a runtime over
// Config.MaxRuntimeBytes is retired (its instances are rebuilt on a
// fresh one) and the call that took it there fails with ErrMemoryLimit.
//
// Walking costs time in proportion to the runtime's size (a fresh
// runtime: about 0.6 MiB, a few milliseconds), so a runtime is measured
// only after the process allocated measureEvery, or a quarter of the
// runtime's last size, while its JavaScript ran: walks cost a bounded
// share of the allocation they follow, and a runtime outgrows its bound
// by about a quarter at most.
const measureEvery = 32 << 20

// allocsMetric is the bytes the process has allocated on the heap: the
// watchdog reads it as a segment starts and stops (about 0.6 µs each).
const allocsMetric = "/gc/heap/allocs:bytes"

// allocated returns allocsMetric's value from s, which names it.
func allocated(s []metrics.Sample) uint64 {
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// charge counts bytes the process allocated while a segment of the
// runtime's JavaScript ran (the segment's own and, on a busy node, some
// of its neighbours': it only decides when to measure) and reports
// whether the runtime is due to be measured. The runtime's turn is held.
func (vm *vm) charge(bytes uint64) bool {
	vm.allocSinceMeasure += bytes
	return vm.allocSinceMeasure >= max(measureEvery, vm.size/4)
}

// What one call keeps across its segments (an array an async fetch grows
// between timer steps) is out of the walk's reach when it is held by a
// suspended async function: goja keeps those in Go closures. So a call
// is checked against the process's live heap each time it has allocated
// half of Config.MaxHeapGrowth across its segments: grown by more than
// the bound since the call's first look, it stops with ErrMemoryLimit,
// as one segment does under the watchdog. The live heap is what the last
// collection found, so a look that follows none collects first (the
// call waits for it): a call that allocates heavily pays for a
// collection per half bound it allocates, about what Go's pacing costs
// it anyway, and one that allocates little is never looked at, and so
// never blamed for its neighbours' growth.

// gcCyclesMetric counts completed collections.
const gcCyclesMetric = "/gc/cycles/total:gc-cycles"

// chargeHeap counts a segment's allocation against the call and returns
// ErrMemoryLimit when the live heap grew past the bound while the call
// ran.
func (c *call) chargeHeap(allocs uint64) error {
	growth := uint64(c.cfg.MaxHeapGrowth)
	if c.cfg.MaxHeapGrowth <= 0 {
		return nil
	}
	every := growth / 2
	if c.heap0 == 0 { // the first look comes sooner: what the call keeps before it goes unseen
		every = min(measureEvery, every)
	}
	if c.allocSinceLook += allocs; c.allocSinceLook < every {
		return nil
	}
	c.allocSinceLook = 0
	live, ok := c.liveHeap()
	switch {
	case !ok:
	case c.heap0 == 0:
		c.heap0 = live
	case live > c.heap0+growth:
		return errorf(ErrMemoryLimit, "the live heap grew by %d MiB while the call ran, over %d MiB",
			(live-c.heap0)>>20, growth>>20)
	}
	return nil
}

// liveHeap returns the live heap after a collection that ended since the
// call's last look, running one if none did.
func (c *call) liveHeap() (uint64, bool) {
	if c.heapSample == nil {
		c.heapSample = []metrics.Sample{{Name: liveHeapMetric}, {Name: gcCyclesMetric}}
	}
	metrics.Read(c.heapSample)
	if c.heapSample[0].Value.Kind() != metrics.KindUint64 || c.heapSample[1].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	if c.heapSample[1].Value.Uint64() == c.gcCycles {
		runtime.GC()
		metrics.Read(c.heapSample)
	}
	c.gcCycles = c.heapSample[1].Value.Uint64()
	return c.heapSample[0].Value.Uint64(), true
}

// measure walks the runtime and the call's own roots (its timers and the
// promises it waits on) and records the runtime's size; it reports false
// when that is over Config.MaxRuntimeBytes, stopping the walk there. The
// runtime's turn is held and no JavaScript runs on it.
func (vm *vm) measure(c *call) bool {
	limit := uint64(vm.cfg.MaxRuntimeBytes)
	w := sizeWalk{seen: make(map[uintptr]struct{}), pointers: make(map[reflect.Type]bool), locks: make(map[reflect.Type]bool), limit: limit}
	w.add(reflect.ValueOf(vm.rt))
	if c != nil {
		for _, t := range c.timers {
			w.add(reflect.ValueOf(t.fnValue))
			for _, a := range t.args {
				w.add(reflect.ValueOf(a))
			}
		}
		for _, p := range c.blocking {
			w.add(reflect.ValueOf(p))
		}
		for _, p := range c.waiting {
			w.add(reflect.ValueOf(p))
		}
	}
	vm.size, vm.allocSinceMeasure = w.total, 0
	return w.total <= limit
}

// gojaModule is the path of goja's packages: a walk descends into their
// values and Go's containers, and counts values of other packages (a
// time.Location, a compiled regexp) by their own size only, so it never
// wanders into state other goroutines share.
var gojaModule = reflect.TypeFor[goja.Runtime]().PkgPath()

// sizeWalk sums the bytes reachable from values, each allocation once.
// It keeps its own stack of values to visit: a class's data may nest a
// million levels deep, which recursion would follow on the goroutine's
// stack.
type sizeWalk struct {
	seen     map[uintptr]struct{}
	pointers map[reflect.Type]bool // hasPointers by type
	locks    map[reflect.Type]bool // locked by type
	todo     []reflect.Value
	total    uint64
	limit    uint64
}

// add walks what v reaches, until the total passes the limit.
func (w *sizeWalk) add(v reflect.Value) {
	w.todo = append(w.todo[:0], v)
	for len(w.todo) > 0 && w.total <= w.limit {
		v := w.todo[len(w.todo)-1]
		w.todo = w.todo[:len(w.todo)-1]
		w.visit(v)
	}
}

func (w *sizeWalk) first(p uintptr) bool {
	if p == 0 {
		return false
	}
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

// descends reports whether the walk looks inside values of type t.
func descends(t reflect.Type) bool {
	pkg := t.PkgPath()
	return pkg == "" || strings.HasPrefix(pkg, gojaModule) || pkg == "math/big"
}

// visit counts the allocations v points to and queues what they hold; v
// itself is counted by its container.
func (w *sizeWalk) visit(v reflect.Value) {
	if !v.IsValid() || !descends(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		e := v.Elem()
		w.total += uint64(e.Type().Size())
		w.todo = append(w.todo, e)
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if k := e.Kind(); k != reflect.Pointer && k != reflect.Map && k != reflect.Slice {
			w.total += uint64(e.Type().Size()) // boxed
		}
		w.todo = append(w.todo, e)
	case reflect.Struct:
		if w.locked(v.Type()) {
			return // a WeakMap, whose entries the collector's cleanups delete
		}
		for i := range v.NumField() {
			if w.hasPointers(v.Type().Field(i).Type) {
				w.todo = append(w.todo, v.Field(i))
			}
		}
	case reflect.Array:
		if w.hasPointers(v.Type().Elem()) {
			for i := range v.Len() {
				w.todo = append(w.todo, v.Index(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		w.total += uint64(v.Cap()) * uint64(v.Type().Elem().Size())
		if w.hasPointers(v.Type().Elem()) {
			for i := range v.Len() {
				w.todo = append(w.todo, v.Index(i))
			}
		}
	case reflect.Map:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		kt, et := v.Type().Key(), v.Type().Elem()
		w.total += uint64(v.Len()) * uint64(kt.Size()+et.Size()+8) * 3 / 2 // buckets' slack
		if w.hasPointers(kt) || w.hasPointers(et) {
			for it := v.MapRange(); it.Next(); {
				w.todo = append(w.todo, it.Key(), it.Value())
			}
		}
	case reflect.String:
		s := v.String()
		if len(s) > 0 && w.first(uintptr(unsafe.Pointer(unsafe.StringData(s)))) {
			w.total += uint64(len(s))
		}
	}
}

// lockTypes are the locks whose holders a walk leaves alone.
var lockTypes = []reflect.Type{reflect.TypeFor[sync.Mutex](), reflect.TypeFor[sync.RWMutex]()}

// locked reports whether struct type t holds a lock: goja guards with one
// what other goroutines change while the runtime's turn is held.
func (w *sizeWalk) locked(t reflect.Type) bool {
	if l, ok := w.locks[t]; ok {
		return l
	}
	l := false
	for i := range t.NumField() {
		l = l || slices.Contains(lockTypes, t.Field(i).Type)
	}
	w.locks[t] = l
	return l
}

// hasPointers reports whether values of t may reach other allocations.
func (w *sizeWalk) hasPointers(t reflect.Type) bool {
	if has, ok := w.pointers[t]; ok {
		return has
	}
	has := false
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.String:
		has = true
	case reflect.Struct:
		w.pointers[t] = false // a struct that holds itself does so through a pointer
		for i := range t.NumField() {
			has = has || w.hasPointers(t.Field(i).Type)
		}
	case reflect.Array:
		has = t.Len() > 0 && w.hasPointers(t.Elem())
	}
	w.pointers[t] = has
	return has
}
