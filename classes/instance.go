package classes

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/dop251/goja"
)

// instance is one live object: the class instance constructor(ctx, env)
// built on a runtime it shares with other objects of the class, and the
// class version it was built from.
type instance struct {
	vm      *vm
	object  *goja.Object // nil until constructed
	version uint64
	program *Program
	epoch   uint64 // the slot epoch it belongs to (see slots.release)
	call    *call  // the call running on it, between begin and end
	// named holds ctx.id.name for a script's object (a JavaScript
	// object with the property name once a call brought it); nil for a
	// /_classes object, whose id is its name.
	named *goja.Object
}

// construct runs constructor(ctx, env) for object and lets the
// constructor's blockConcurrencyWhile promises settle, within the call
// that begun on in. idName is ClassRef.IDName.
func (in *instance) construct(object, idName string) error {
	vm := in.vm
	v, err := in.run(func() (goja.Value, error) {
		args := []goja.Value{vm.rt.ToValue(object)}
		if in.program.bindings != nil { // a script's class
			in.named = vm.rt.NewObject()
			in.nameID(idName)
			args = append(args, in.named)
		}
		ctx, err := vm.hooks.makeContext(goja.Undefined(), args...)
		if err != nil {
			return nil, err
		}
		env, err := in.program.envValue(vm)
		if err != nil {
			return nil, err
		}
		return vm.hooks.construct(goja.Undefined(), vm.class, ctx, env)
	})
	if err != nil {
		return err
	}
	o := v.ToObject(vm.rt)
	if _, err := in.settle(nil, "constructor"); err != nil {
		return err
	}
	in.object = o
	return nil
}

// nameID gives a script's object the name its id was made from (a
// name its caller verified), which ctx.id.name then answers; the
// caller holds the runtime's turn. An empty name changes nothing: a
// name once known stays, as the id is the name's.
func (in *instance) nameID(name string) {
	if in.named != nil && name != "" {
		in.named.Set("name", name)
	}
}

// begin attaches c to the instance for one call; the caller holds the
// runtime's turn.
func (in *instance) begin(c *call) {
	in.call = c
	in.vm.call = c
	c.rt = in.vm.rt
	if c.ws != nil {
		c.ws.owner = in
	}
}

// end detaches the call; timers it left pending are dropped.
func (in *instance) end() {
	in.vm.call = nil
	in.call = nil
}

// outside runs f with the runtime's turn given up, for what waits without
// running JavaScript (a timer, the commit), so that other objects'
// calls on the runtime run meanwhile.
func (in *instance) outside(f func() error) error {
	vm := in.vm
	vm.call = nil
	vm.give()
	defer func() {
		vm.take()
		vm.call = in.call
	}()
	return f()
}

// run runs JavaScript within the call's CPU budget, turning what goja
// returns into this package's errors.
func (in *instance) run(f func() (goja.Value, error)) (v goja.Value, err error) {
	c := in.call
	left := c.cfg.CPULimit - c.cpuUsed
	if left <= 0 {
		return nil, errorf(ErrCPULimit, "ran JavaScript for %s", c.cfg.CPULimit)
	}
	if err := c.enter(in.vm.rt); err != nil {
		return nil, err
	}
	w := watch(c, left)
	defer func() {
		used, allocs := w.stop()
		c.cpuUsed += used
		c.leave()
		if r := recover(); r != nil { // a bug of ours in a native: fail the call, not the node
			v, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
		if errors.Is(err, ErrMemoryLimit) || errors.Is(err, errPanic) {
			return // the runtime is retired: no need to measure it
		}
		if vm := in.vm; vm.cfg.MaxRuntimeBytes > 0 && vm.charge(allocs) && !vm.measure(c) {
			v, err = nil, errorf(ErrMemoryLimit, "the class's runtime holds over %d MiB", vm.cfg.MaxRuntimeBytes>>20)
		} else if e := c.chargeHeap(allocs); e != nil {
			v, err = nil, e
		}
	}()
	v, err = f()
	if err == nil {
		return v, nil
	}
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	var ex *goja.Exception
	switch {
	case errors.As(err, &ie):
		if reason, ok := ie.Value().(error); ok {
			return nil, reason
		}
		return nil, fmt.Errorf("classes: interrupted: %v", ie.Value())
	case errors.As(err, &so):
		return nil, errorf(ErrStackOverflow, "deeper than %d calls", c.cfg.MaxStackDepth)
	case errors.As(err, &ex):
		return nil, in.vm.scriptError(ex.Value())
	}
	return nil, err
}

// settle drives the call's event loop until v (when it is a promise) and
// every blockConcurrencyWhile and waitUntil promise have settled, running
// timers as they come due and settling fetches as they complete (next);
// it returns v's value.
func (in *instance) settle(v goja.Value, what string) (goja.Value, error) {
	c := in.call
	p := promiseOf(v)
	for {
		for _, b := range c.blocking {
			if b.State() == goja.PromiseStateRejected {
				return nil, in.rejection(b.Result())
			}
		}
		c.blocking = slices.DeleteFunc(c.blocking, settled)
		c.waiting = slices.DeleteFunc(c.waiting, func(w *goja.Promise) bool {
			if w.State() == goja.PromiseStateRejected {
				in.vm.logger().Warn("a waitUntil promise was rejected", "reason", w.Result().String())
			}
			return settled(w)
		})
		if p != nil && p.State() == goja.PromiseStateRejected {
			return nil, in.rejection(p.Result())
		}
		if (p == nil || settled(p)) && len(c.blocking) == 0 && len(c.waiting) == 0 {
			break
		}
		if err := in.next(what); err != nil {
			return nil, err
		}
	}
	if p == nil {
		return v, nil
	}
	return p.Result(), nil
}

// rejection is a rejected promise's reason as a *ScriptError; reading it
// may run the class's code (a getter), so it runs within the budget.
func (in *instance) rejection(reason goja.Value) error {
	var se error
	if _, err := in.run(func() (goja.Value, error) {
		se = in.vm.scriptError(reason)
		return nil, nil
	}); err != nil {
		return err
	}
	return se
}

func settled(p *goja.Promise) bool { return p.State() != goja.PromiseStatePending }

// promiseType is what a goja Promise exports as. ExportType is checked
// before Export because exporting any other object copies it deeply.
var promiseType = reflect.TypeFor[*goja.Promise]()

func promiseOf(v goja.Value) *goja.Promise {
	if o, ok := v.(*goja.Object); ok && o.ExportType() == promiseType {
		if p, ok := o.Export().(*goja.Promise); ok {
			return p
		}
	}
	return nil
}

// fetch runs fetch(request) and returns its Response.
func (in *instance) fetch(req *Request) (*Response, error) {
	res, err := in.callFetch(req)
	if err != nil {
		return nil, err
	}
	return in.responseOf(res)
}

// callFetch runs fetch(request) and returns the value its promise
// settled to.
func (in *instance) callFetch(req *Request) (goja.Value, error) {
	v, err := in.run(func() (goja.Value, error) {
		fetch, ok := goja.AssertFunction(in.object.Get("fetch"))
		if !ok {
			return nil, &ScriptError{Message: "the class has no fetch() method"}
		}
		r, err := in.vm.requestValue(req)
		if err != nil {
			return nil, err
		}
		return fetch(in.object, r)
	})
	if err != nil {
		return nil, err
	}
	return in.settle(v, "fetch")
}

// responseOf turns what fetch returned into a Response, or a ScriptError
// when it is not one. A Response whose body is a stream is read whole
// first: responseParts answers it with a promise of the Response with
// its body read, settled here by the call's event loop.
func (in *instance) responseOf(res goja.Value) (*Response, error) {
	vm := in.vm
	var parts *goja.Object
	var drained *goja.Promise
	if _, err := in.run(func() (goja.Value, error) {
		p, err := vm.hooks.responseParts(goja.Undefined(), res)
		if err == nil && !goja.IsNull(p) {
			if drained = promiseOf(p); drained == nil {
				parts = p.ToObject(vm.rt)
			}
		}
		return nil, err
	}); err != nil {
		return nil, err
	}
	if drained != nil {
		whole, err := in.settle(vm.rt.ToValue(drained), "the Response's body stream")
		if err != nil {
			return nil, err
		}
		return in.responseOf(whole)
	}
	if parts == nil {
		return nil, &ScriptError{Message: "fetch did not return a Response"}
	}
	return vm.response(parts)
}

// alarm runs alarm({retryCount, isRetry}).
func (in *instance) alarm(info AlarmInfo) error {
	v, err := in.run(func() (goja.Value, error) {
		alarm, ok := goja.AssertFunction(in.object.Get("alarm"))
		if !ok {
			return nil, &ScriptError{Message: "the class has no alarm() method"}
		}
		arg := in.vm.rt.NewObject()
		if err := arg.Set("retryCount", info.RetryCount); err != nil {
			return nil, err
		}
		if err := arg.Set("isRetry", info.IsRetry); err != nil {
			return nil, err
		}
		return alarm(in.object, arg)
	})
	if err != nil {
		return err
	}
	_, err = in.settle(v, "alarm")
	return err
}
