package classes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// vm is a goja runtime with dobj's globals and a class's module, shared
// by object instances of the class (runtimes.go), and the call whose turn
// it is.
type vm struct {
	rt    *goja.Runtime
	cfg   *Config
	log   *slog.Logger // with the class
	hooks hooks
	// class is the module's exported class; hasAlarm: it defines alarm(),
	// so setAlarm is allowed.
	class    *goja.Object
	hasAlarm bool
	// call is the call whose turn it is, nil between turns (and when
	// Compile evaluates a module).
	call *call
	born time.Time // performance.now()'s origin
	ws   wsHooks   // websocket.js's hooks (websocket.go)
	// dispatchAwaiting is the prelude's dispatch that returns a promise of
	// what the listeners started, for websocket.js.
	dispatchAwaiting goja.Value

	// turn holds a token while one call's JavaScript runs or its Go code
	// touches the runtime's values (a channel, so that a call waiting for
	// it can give up); turnTaken mirrors it for runtimes.pick.
	turn      chan struct{}
	turnTaken atomic.Bool
	// retired: the runtime's instances are rebuilt elsewhere (runtimes.retire).
	retired atomic.Bool
	// size is what the runtime held when last measured, allocSinceMeasure
	// what the process allocated while its JavaScript ran since
	// (memory.go); the turn guards both.
	size, allocSinceMeasure uint64
	// pool and users (guarded by runtimes.mu): the class's runtimes it
	// belongs to (nil once dropped) and the instances it serves.
	pool  *classRuntimes
	users int
}

// take waits for the runtime's turn.
func (vm *vm) take() {
	vm.turn <- struct{}{}
	vm.turnTaken.Store(true)
}

// takeBefore waits for the runtime's turn until ctx ends: a call queued
// behind a neighbour that loops gives up with its context rather than
// wait for the CPU limit.
func (vm *vm) takeBefore(ctx context.Context) error {
	select {
	case vm.turn <- struct{}{}:
		vm.turnTaken.Store(true)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeWithin is takeBefore that also gives up, reporting false, once
// patience has passed.
func (vm *vm) takeWithin(ctx context.Context, patience time.Duration) (bool, error) {
	select { // the turn is usually free: no timer
	case vm.turn <- struct{}{}:
		vm.turnTaken.Store(true)
		return true, nil
	default:
	}
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case vm.turn <- struct{}{}:
		vm.turnTaken.Store(true)
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

// give ends the turn.
func (vm *vm) give() {
	vm.turnTaken.Store(false)
	<-vm.turn
}

// logger is console's logger: the runtime's, with the object of the call
// whose turn it is.
func (vm *vm) logger() *slog.Logger {
	if c := vm.call; c != nil && c.object != "" {
		if c.log == nil {
			c.log = vm.log.With("object", c.object)
		}
		return c.log
	}
	return vm.log
}

// hooks are the functions and objects the engine uses, taken from the
// runtime before any class code runs, so a class that replaces a global
// does not change what the engine does.
type hooks struct {
	makeContext, responseParts                goja.Callable
	isClass, mapEntries, setValues, construct goja.Callable
	jsonParse                                 goja.Callable

	mapCtor, setCtor, dateCtor               *goja.Object
	requestProto                             *goja.Object // Request.prototype
	errorCtor, typeErrorCtor, rangeErrorCtor *goja.Object

	objectProto, mapProto, setProto *goja.Object
	// refused are prototypes of objects that are not stored (see kind).
	refused []*goja.Object
}

// newVM installs the globals (the prelude, prelude.go, and its Go
// natives) on rt.
func newVM(rt *goja.Runtime, cfg *Config, log *slog.Logger) (*vm, error) {
	boundRegexps()
	vm := &vm{rt: rt, cfg: cfg, log: log, born: time.Now(), turn: make(chan struct{}, 1)}
	prog, err := preludeProgram()
	if err != nil {
		return nil, fmt.Errorf("classes: compile the prelude: %w", err)
	}
	h := &vm.hooks
	global := func(name string) *goja.Object { return rt.Get(name).ToObject(rt) }
	proto := func(name string) *goja.Object { return global(name).Get("prototype").ToObject(rt) }
	h.mapCtor, h.setCtor, h.dateCtor = global("Map"), global("Set"), global("Date")
	h.errorCtor, h.typeErrorCtor, h.rangeErrorCtor = global("Error"), global("TypeError"), global("RangeError")
	h.objectProto, h.mapProto, h.setProto = proto("Object"), proto("Map"), proto("Set")
	h.refused = []*goja.Object{
		proto("Promise"), proto("WeakMap"), proto("WeakSet"), proto("ArrayBuffer"), proto("DataView"),
		proto("Uint8Array").Prototype(), // %TypedArray%.prototype
	}
	var ok bool
	if h.jsonParse, ok = goja.AssertFunction(global("JSON").Get("parse")); !ok {
		return nil, errors.New("classes: JSON.parse is not a function")
	}

	fn, err := rt.RunProgram(prog)
	if err != nil {
		return nil, fmt.Errorf("classes: run the prelude: %w", err)
	}
	setup, ok := goja.AssertFunction(fn)
	if !ok {
		return nil, errors.New("classes: the prelude is not a function")
	}
	out, err := setup(goja.Undefined(), vm.natives(), rt.ToValue(cfg.MaxStringLength), rt.ToValue(cfg.MaxArrayLength),
		rt.ToValue(regexpMatchTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("classes: set up the prelude: %w", err)
	}
	o := out.ToObject(rt)
	for name, dst := range map[string]*goja.Callable{
		"makeContext":   &h.makeContext,
		"responseParts": &h.responseParts,
		"isClass":       &h.isClass,
		"mapEntries":    &h.mapEntries,
		"setValues":     &h.setValues,
		"construct":     &h.construct,
	} {
		if *dst, ok = goja.AssertFunction(o.Get(name)); !ok {
			return nil, fmt.Errorf("classes: the prelude lacks %s", name)
		}
	}
	vm.dispatchAwaiting = o.Get("dispatchAwaiting")
	if h.requestProto, ok = o.Get("requestProto").(*goja.Object); !ok {
		return nil, errors.New("classes: the prelude lacks requestProto")
	}
	if err := vm.installWebSockets(); err != nil {
		return nil, err
	}
	return vm, nil
}

// throw throws err into JavaScript as an error made by ctor, remembering
// the Go error behind it for the call's ScriptError.
func (vm *vm) throw(ctor *goja.Object, err error) {
	obj, e := vm.rt.New(ctor, vm.rt.ToValue(err.Error()))
	if e != nil {
		panic(vm.rt.NewGoError(err))
	}
	if c := vm.call; c != nil {
		if c.thrown == nil {
			c.thrown = make(map[*goja.Object]error)
		}
		c.thrown[obj] = err
	}
	panic(obj)
}

func (vm *vm) typeError(format string, args ...any) {
	vm.throw(vm.hooks.typeErrorCtor, fmt.Errorf(format, args...))
}

// scriptError describes a thrown value or a rejection reason. It may run
// the class's getters: call it within instance.run.
func (vm *vm) scriptError(v goja.Value) *ScriptError {
	se := &ScriptError{}
	o, ok := v.(*goja.Object)
	if !ok {
		if v == nil {
			v = goja.Undefined()
		}
		se.Message = v.String()
		return se
	}
	if c := vm.call; c != nil {
		se.Err = c.thrown[o]
	}
	if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
		se.Message = m.String()
		if n := o.Get("name"); n != nil && !goja.IsUndefined(n) {
			se.Name = n.String()
		}
		if se.Err == nil {
			if name := se.Name; name != "Error" && name != "" {
				se.Message = name + ": " + se.Message
			}
		}
	} else {
		se.Message = o.String()
	}
	if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
		se.Stack = s.String()
	}
	return se
}
