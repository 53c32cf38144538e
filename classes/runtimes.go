package classes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dop251/goja"
)

// Objects share runtimes, as workerd's objects share isolates: each
// class version has up to Config.RuntimesPerClass goja runtimes, each
// with the Web APIs and the module loaded once, and every object instance
// of the class lives on one of them for its life. A runtime runs one
// call's JavaScript at a time (its turn, vm.mu); a call gives the turn up
// while it waits for a timer or for its commit, so calls of objects on
// one runtime interleave as calls of one isolate do. Sharing is what
// keeps a call cheap when many objects are live: a runtime of its own
// per object holds a third of a megabyte, and calls spread over a
// thousand objects ran on runtimes cold in the CPU's caches at twice the
// cost of a call on a warm one (BenchmarkCallCounterColdObjects).
//
// What objects of one class share is what isolates share: the module's
// top-level state and the globals. Each object has its own instance and
// storage.

// runtimes is an Engine's runtimes by class.
type runtimes struct {
	cfg *Config

	mu      sync.Mutex
	byClass map[string]*classRuntimes
}

// classRuntimes are the runtimes of one class version.
type classRuntimes struct {
	name    string
	version uint64
	program *Program
	vms     []*vm
}

func (rs *runtimes) init(cfg *Config) {
	rs.cfg = cfg
	rs.byClass = make(map[string]*classRuntimes)
}

// current returns ref's runtimes, replacing those of another version.
// rs.mu is held.
func (rs *runtimes) current(ref ClassRef) *classRuntimes {
	cr := rs.byClass[ref.Name]
	if cr == nil || cr.version != ref.Version || cr.program != ref.Program {
		cr = &classRuntimes{name: ref.Name, version: ref.Version, program: ref.Program}
		rs.byClass[ref.Name] = cr
	}
	return cr
}

// pick returns a runtime of ref's class version for a new instance, with
// the instance counted as its user: the one with the fewest instances,
// preferring one whose turn is free, or a new one while the class has
// fewer than RuntimesPerClass and each it has serves an instance. The
// caller gives the count back with unref when the instance is dropped.
func (rs *runtimes) pick(ctx context.Context, ref ClassRef) (*vm, error) {
	rs.mu.Lock()
	if vm := rs.pickLocked(ref, true); vm != nil {
		rs.mu.Unlock()
		return vm, nil
	}
	rs.mu.Unlock()

	vm, err := rs.build(ctx, ref)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.adopt(ref, vm) {
		return vm, nil
	}
	// Others built the class's last runtimes meanwhile: this one is not
	// needed.
	return rs.pickLocked(ref, false), nil
}

// adopt adds vm, just built, to ref's runtimes with the new instance
// counted, if the class still has room for it. rs.mu is held.
func (rs *runtimes) adopt(ref ClassRef, vm *vm) bool {
	cr := rs.current(ref)
	if len(cr.vms) >= rs.cfg.RuntimesPerClass {
		return false
	}
	vm.pool = cr
	vm.users = 1
	cr.vms = append(cr.vms, vm)
	return true
}

// pickLocked chooses among ref's runtimes and counts the new instance on
// the one chosen. With mayBuild it returns nil to ask for a new runtime
// when the class has room for one and each it has serves an instance.
// rs.mu is held.
func (rs *runtimes) pickLocked(ref ClassRef, mayBuild bool) *vm {
	cr := rs.current(ref)
	var best *vm
	for _, vm := range cr.vms {
		if best == nil || better(vm, best) {
			best = vm
		}
	}
	if best == nil || mayBuild && best.users > 0 && len(cr.vms) < rs.cfg.RuntimesPerClass {
		return nil
	}
	best.users++
	return best
}

// pickFree returns a runtime of ref's class other than busy whose turn
// is free, counting a new instance on it, building one if the class has
// room; nil when there is none.
func (rs *runtimes) pickFree(ctx context.Context, ref ClassRef, busy *vm) (*vm, error) {
	rs.mu.Lock()
	cr := rs.current(ref)
	var best *vm
	for _, vm := range cr.vms {
		if vm != busy && !vm.turnTaken.Load() && (best == nil || vm.users < best.users) {
			best = vm
		}
	}
	room := len(cr.vms) < rs.cfg.RuntimesPerClass
	if best != nil {
		best.users++
		rs.mu.Unlock()
		return best, nil
	}
	rs.mu.Unlock()
	if !room {
		return nil, nil
	}
	vm, err := rs.build(ctx, ref)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.adopt(ref, vm) {
		return nil, nil // others filled the room meanwhile
	}
	return vm, nil
}

// better: a free turn before a taken one, then fewer instances.
func better(a, b *vm) bool {
	aBusy, bBusy := a.turnTaken.Load(), b.turnTaken.Load()
	if aBusy != bBusy {
		return !aBusy
	}
	return a.users < b.users
}

// unref gives back an instance's count on its runtime. A runtime serving
// none is dropped: memory follows the live instances.
func (rs *runtimes) unref(vm *vm) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	vm.users--
	if vm.users == 0 {
		rs.removeLocked(vm)
	}
}

// retire takes vm out of use: its instances are rebuilt on other
// runtimes at their next call. For a runtime whose state cannot be
// trusted (a memory limit hit with what it hoarded still reachable, a
// panic in a native).
func (rs *runtimes) retire(vm *vm) {
	vm.retired.Store(true)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.removeLocked(vm)
}

func (rs *runtimes) removeLocked(vm *vm) {
	cr := vm.pool
	if cr == nil {
		return
	}
	for i, v := range cr.vms {
		if v == vm {
			cr.vms = append(cr.vms[:i], cr.vms[i+1:]...)
			break
		}
	}
	vm.pool = nil
	if len(cr.vms) == 0 && rs.byClass[cr.name] == cr {
		delete(rs.byClass, cr.name)
	}
}

// forget drops class's runtimes from the pool; instances on them are
// dropped by the slots (Engine.Forget).
func (rs *runtimes) forget(class string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.byClass, class)
}

// count is the number of runtimes in use, for Stats.
func (rs *runtimes) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for _, cr := range rs.byClass {
		n += len(cr.vms)
	}
	return n
}

// build makes a runtime for ref's class: the Web APIs, then the module,
// whose top level runs under the watchdog with no storage (it belongs to
// no object).
func (rs *runtimes) build(ctx context.Context, ref ClassRef) (*vm, error) {
	cfg := rs.cfg
	rt := goja.New()
	rt.SetMaxCallStackSize(cfg.MaxStackDepth)
	vm, err := newVM(rt, cfg, cfg.Logger.With("class", ref.Name))
	if err != nil {
		return nil, err
	}
	c := newCall(ctx, nil, cfg)
	defer c.stop()
	in := &instance{vm: vm}
	in.begin(c)
	defer in.end()
	_, err = in.run(func() (goja.Value, error) {
		if _, err := rt.RunProgram(ref.Program.program); err != nil {
			return nil, err
		}
		exports := rt.Get(moduleGlobal)
		if exports == nil || goja.IsUndefined(exports) {
			return nil, errors.New("classes: the module left no exports")
		}
		cv := exports.ToObject(rt).Get(ref.Program.class)
		if _, ok := goja.AssertFunction(cv); !ok {
			return nil, fmt.Errorf("classes: the module does not export class %s", ref.Program.class)
		}
		vm.class = cv.ToObject(rt)
		if proto, ok := vm.class.Get("prototype").(*goja.Object); ok {
			_, vm.hasAlarm = goja.AssertFunction(proto.Get("alarm"))
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return vm, nil
}
