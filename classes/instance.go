package classes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// instance is one live object: its runtime, holding the class instance that
// constructor(ctx, env) built, and the class version it was built from.
type instance struct {
	vm      *vm
	object  *goja.Object
	version uint64
	program *Program
	epoch   uint64 // the slot epoch it belongs to (see slots.release)
}

// call is the state of one fetch or alarm on an instance: the storage it
// reads and the writes it makes, its timers and its CPU budget.
type call struct {
	ctx   context.Context
	state State
	cfg   *Config

	ov       overlay
	saves    map[int64]overlay // transaction savepoints by token
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

	cpuUsed time.Duration
	stopCtx func() bool

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
	args  []goja.Value
}

func newCall(ctx context.Context, state State, cfg *Config) *call {
	c := &call{ctx: ctx, state: state, cfg: cfg}
	c.stopCtx = context.AfterFunc(ctx, func() { c.interrupt(ctx.Err()) })
	return c
}

func (c *call) stop() { c.stopCtx() }

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

// newInstance builds object's instance of ref's class on a fresh runtime:
// it loads the module and runs constructor(ctx, env), then lets the
// constructor's blockConcurrencyWhile promises settle, all within c.
func newInstance(cfg *Config, ref ClassRef, object string, c *call) (*instance, error) {
	rt := goja.New()
	rt.SetMaxCallStackSize(cfg.MaxStackDepth)
	log := cfg.Logger.With("class", ref.Name, "object", object)
	vm, err := newVM(rt, cfg, log)
	if err != nil {
		return nil, err
	}
	in := &instance{vm: vm, version: ref.Version, program: ref.Program}
	in.begin(c)
	fail := func(err error) (*instance, error) {
		in.end()
		return nil, err
	}
	var class *goja.Object
	if _, err := in.run(func() (goja.Value, error) {
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
		class = cv.ToObject(rt)
		if proto, ok := class.Get("prototype").(*goja.Object); ok {
			_, vm.hasAlarm = goja.AssertFunction(proto.Get("alarm"))
		}
		return nil, nil
	}); err != nil {
		return fail(err)
	}
	v, err := in.run(func() (goja.Value, error) {
		ctx, err := vm.hooks.makeContext(goja.Undefined(), rt.ToValue(object))
		if err != nil {
			return nil, err
		}
		return vm.hooks.construct(goja.Undefined(), class, ctx, rt.NewObject())
	})
	if err != nil {
		return fail(err)
	}
	in.object = v.ToObject(rt)
	if _, err := in.settle(nil, "constructor"); err != nil {
		return fail(err)
	}
	return in, nil
}

// begin attaches c to the instance for one call.
func (in *instance) begin(c *call) {
	in.vm.call = c
	c.rt = in.vm.rt
}

// end detaches the call; timers it left pending are dropped.
func (in *instance) end() { in.vm.call = nil }

// run runs JavaScript within the call's CPU budget, turning what goja
// returns into this package's errors.
func (in *instance) run(f func() (goja.Value, error)) (v goja.Value, err error) {
	c := in.vm.call
	left := c.cfg.CPULimit - c.cpuUsed
	if left <= 0 {
		return nil, errorf(ErrCPULimit, "ran JavaScript for %s", c.cfg.CPULimit)
	}
	if err := c.enter(in.vm.rt); err != nil {
		return nil, err
	}
	limit := time.AfterFunc(left, func() {
		c.interrupt(errorf(ErrCPULimit, "ran JavaScript for %s", c.cfg.CPULimit))
	})
	start := time.Now()
	defer func() {
		limit.Stop()
		c.cpuUsed += time.Since(start)
		c.leave()
		if r := recover(); r != nil { // a bug of ours in a native: fail the call, not the node
			v, err = nil, fmt.Errorf("classes: panic in the runtime: %v", r)
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
// timers as they come due; it returns v's value.
func (in *instance) settle(v goja.Value, what string) (goja.Value, error) {
	c := in.vm.call
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
				in.vm.log.Warn("a waitUntil promise was rejected", "reason", w.Result().String())
			}
			return settled(w)
		})
		if p != nil && p.State() == goja.PromiseStateRejected {
			return nil, in.rejection(p.Result())
		}
		if (p == nil || settled(p)) && len(c.blocking) == 0 && len(c.waiting) == 0 {
			break
		}
		t := c.popTimer()
		if t == nil {
			return nil, errorf(ErrNeverSettled, "%s awaits something that can never happen (no timer is pending)", what)
		}
		if d := time.Until(t.when); d > 0 {
			wait := time.NewTimer(d)
			select {
			case <-wait.C:
			case <-c.ctx.Done():
				wait.Stop()
				return nil, c.ctx.Err()
			}
		}
		if t.every > 0 { // an interval fires again unless its callback clears it
			next := *t
			next.when = t.when.Add(t.every)
			c.timers = append(c.timers, &next)
		}
		if _, err := in.run(func() (goja.Value, error) { return t.fn(goja.Undefined(), t.args...) }); err != nil {
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

// fetch runs fetch(request) and returns its Response.
func (in *instance) fetch(req *Request) (*Response, error) {
	vm, rt := in.vm, in.vm.rt
	v, err := in.run(func() (goja.Value, error) {
		fetch, ok := goja.AssertFunction(in.object.Get("fetch"))
		if !ok {
			return nil, &ScriptError{Message: "the class has no fetch() method"}
		}
		r, err := vm.requestValue(req)
		if err != nil {
			return nil, err
		}
		return fetch(in.object, r)
	})
	if err != nil {
		return nil, err
	}
	res, err := in.settle(v, "fetch")
	if err != nil {
		return nil, err
	}
	var parts *goja.Object
	if _, err := in.run(func() (goja.Value, error) {
		p, err := vm.hooks.responseParts(goja.Undefined(), res)
		if err == nil && !goja.IsNull(p) {
			parts = p.ToObject(rt)
		}
		return nil, err
	}); err != nil {
		return nil, err
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

// requestValue is req as a JavaScript Request. Header names are lower
// case; several values of one name are joined with ", " as Headers joins
// them (Set-Cookie's with newlines, as Headers keeps them).
func (vm *vm) requestValue(req *Request) (goja.Value, error) {
	rt := vm.rt
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	nv := make([]any, 0, len(names))
	vv := make([]any, 0, len(names))
	for _, k := range names {
		lk := strings.ToLower(k)
		if !validHeaderName(lk) || len(req.Header[k]) == 0 {
			continue
		}
		sep := ", "
		if lk == "set-cookie" {
			sep = "\n"
		}
		nv = append(nv, lk)
		vv = append(vv, strings.Join(req.Header[k], sep))
	}
	body := goja.Null()
	if len(req.Body) > 0 {
		body = rt.ToValue(rt.NewArrayBuffer(bytes.Clone(req.Body)))
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	return vm.hooks.makeRequest(goja.Undefined(), rt.ToValue(method), rt.ToValue(req.URL), rt.NewArray(nv...), rt.NewArray(vv...), body)
}

// validHeaderName reports whether s is an HTTP token (RFC 9110), as
// Headers accepts names.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// response converts responseParts' [status, [[name, value]…], body].
func (vm *vm) response(parts *goja.Object) (*Response, error) {
	max := vm.cfg.MaxResponseBytes
	resp := &Response{Status: int(parts.Get("0").ToInteger()), Header: http.Header{}}
	if pairs, ok := parts.Get("1").(*goja.Object); ok {
		n := pairs.Get("length").ToInteger()
		for i := range n {
			p := pairs.Get(fmt.Sprint(i)).ToObject(vm.rt)
			resp.Header.Add(p.Get("0").String(), p.Get("1").String())
		}
	}
	switch b := parts.Get("2").(type) {
	case goja.String:
		if b.Length() > max {
			return nil, errorf(ErrResponseTooLarge, "the body is over %d bytes", max)
		}
		resp.Body = []byte(b.String())
	case *goja.Object:
		if ab, ok := b.Export().(goja.ArrayBuffer); ok {
			if len(ab.Bytes()) > max {
				return nil, errorf(ErrResponseTooLarge, "the body is over %d bytes", max)
			}
			resp.Body = bytes.Clone(ab.Bytes())
		}
	}
	if len(resp.Body) > max {
		return nil, errorf(ErrResponseTooLarge, "the body is %d bytes, over %d", len(resp.Body), max)
	}
	return resp, nil
}
