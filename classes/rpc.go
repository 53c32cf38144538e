package classes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/dop251/goja"
)

// RPC (issue 20): a stub's `await stub.method(args…)` runs method of the
// object's instance with the arguments, through the object's gate as a
// fetch does, its writes committed as one Effects before the result is
// returned. Arguments and result are structured-clone values in the
// stored-value encoding (value.go): a JSON array of the arguments, the
// result's JSON (nil for undefined).

// notRPC are the names a stub cannot call: the constructor and the
// handlers the runtime itself calls.
var notRPC = map[string]bool{
	"constructor": true, "fetch": true, "alarm": true,
	"webSocketMessage": true, "webSocketClose": true, "webSocketError": true,
}

// RPCResult is what an RPC call answered: Value is the JSON of the
// method's result (or, for a property that is not a method, of the
// property's value), nil when it was undefined.
type RPCResult struct {
	Value json.RawMessage
}

// RPC runs method(args…) of object `object` of class ref through the
// object's gate, as Call runs fetch: its writes go to commit as one
// Effects, and the result is returned only once commit succeeded. args is
// a JSON array of structured-clone values (empty or nil: no arguments).
// A property that is not a function answers its value, as `await
// stub.prop` does on Cloudflare. A method that is not there, or one of
// the handlers (fetch, alarm, webSocket…), is a *ScriptError named
// TypeError naming it; a throw is a *ScriptError with the exception's
// name and message.
func (e *Engine) RPC(ctx context.Context, ref ClassRef, object, method string, args []byte, state State, commit func(Effects) error) (*RPCResult, error) {
	return e.rpc(ctx, ref, object, method, args, state, true, func(eff Effects, _ *RPCResult) error { return commit(eff) })
}

// RPCOnce runs method(args…) as RPC does, but as one commit, as Call
// runs fetch: it never lends the object's gate (reentry.go), so all its
// writes go to commit once, with the result, which the caller can keep
// with them (an Idempotency-Key's answer). A call that comes back to
// the object while this one awaits waits for it.
func (e *Engine) RPCOnce(ctx context.Context, ref ClassRef, object, method string, args []byte, state State, commit func(Effects, *RPCResult) error) (*RPCResult, error) {
	return e.rpc(ctx, ref, object, method, args, state, false, commit)
}

// rpc is RPC and RPCOnce: lend says whether the call may lend its gate.
func (e *Engine) rpc(ctx context.Context, ref ClassRef, object, method string, args []byte, state State, lend bool, commit func(Effects, *RPCResult) error) (*RPCResult, error) {
	var out *RPCResult
	err := e.run(ctx, ref, object, state, func(in *instance) error {
		if r := in.call.reentry; r != nil && lend {
			r.commit = func(eff Effects) error { return commit(eff, nil) }
		}
		v, err := in.rpc(method, args)
		if err != nil {
			return err
		}
		res := &RPCResult{Value: v}
		if err := in.outside(func() error { return commit(in.call.ov.effects(), res) }); err != nil {
			return err
		}
		out = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// noMethod is the error of a call to a method the object lacks,
// Cloudflare's words.
func noMethod(method string) *ScriptError {
	return &ScriptError{Name: "TypeError",
		Message: fmt.Sprintf("TypeError: The RPC receiver does not implement the method %q.", method)}
}

// rpc runs method(args…) on the instance and returns its settled
// result encoded.
func (in *instance) rpc(method string, args []byte) (json.RawMessage, error) {
	if notRPC[method] {
		return nil, noMethod(method)
	}
	vm := in.vm
	v, err := in.run(func() (goja.Value, error) {
		prop := in.object.Get(method)
		if prop == nil || goja.IsUndefined(prop) {
			return nil, noMethod(method)
		}
		fn, ok := goja.AssertFunction(prop)
		if !ok {
			return prop, nil
		}
		list, err := in.rpcArgs(args)
		if err != nil {
			return nil, err
		}
		return fn(in.object, list...)
	})
	if err != nil {
		return nil, err
	}
	if v, err = in.settle(v, method); err != nil {
		return nil, err
	}
	if v == nil || goja.IsUndefined(v) {
		return nil, nil
	}
	var enc []byte
	if _, err := in.run(func() (goja.Value, error) {
		enc, err = vm.encode(v, vm.cfg.MaxResponseBytes)
		return nil, err
	}); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, errorf(ErrResponseTooLarge, "the result of %s is over %d bytes", method, vm.cfg.MaxResponseBytes)
		}
		return nil, &ScriptError{Name: "DataCloneError", Message: fmt.Sprintf("DataCloneError: the result of %s: %v", method, err), Err: err}
	}
	return enc, nil
}

// rpcArgs decodes a JSON array of arguments. The commonest lists, none
// or one scalar (stub.increment(1)), skip JSON.parse: at 64 clients'
// Worker increments, parsing "[1]" (and growing the goroutine's stack
// for it, encoding/json nesting deeply) took a tenth of the leader's CPU.
func (in *instance) rpcArgs(args []byte) ([]goja.Value, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if list, ok := in.vm.scalarArgs(args); ok {
		return list, nil
	}
	v, err := in.vm.decode(args)
	if err != nil {
		return nil, &ScriptError{Name: "TypeError", Message: "TypeError: RPC arguments: " + err.Error()}
	}
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, &ScriptError{Name: "TypeError", Message: "TypeError: RPC arguments are not an array"}
	}
	n := int(o.Get("length").ToInteger())
	out := make([]goja.Value, n)
	for i := range n {
		out[i] = o.Get(fmt.Sprint(i))
	}
	return out, nil
}

// scalarArgs decodes args when it is an array of no values or of one
// value that decodeScalar decodes as JSON.parse would; ok is false
// otherwise.
func (vm *vm) scalarArgs(args []byte) ([]goja.Value, bool) {
	a := bytes.TrimSpace(args)
	if len(a) < 2 || a[0] != '[' || a[len(a)-1] != ']' {
		return nil, false
	}
	inner := bytes.TrimSpace(a[1 : len(a)-1])
	if len(inner) == 0 {
		return []goja.Value{}, true
	}
	if !json.Valid(inner) { // one JSON value: not two, nor what only Go parses (-Inf)
		return nil, false
	}
	v, ok := vm.decodeScalar(inner)
	if !ok {
		return nil, false
	}
	return []goja.Value{v}, true
}

// WithEnv returns a copy of p whose objects' constructors get env, a
// JSON object (a script's vars and secrets), as their env.
func (p *Program) WithEnv(env json.RawMessage) *Program {
	c := *p
	c.env = env
	return &c
}

// WithBindings returns a copy of p whose objects' env also holds
// namespaces, whose stubs call out through out: a script class's objects
// call other objects as its Workers do.
func (p *Program) WithBindings(namespaces []Namespace, services []string, out Outbound) *Program {
	c := *p
	c.bindings = &bindings{namespaces: namespaces, services: services, out: out}
	c.envs = &sync.Map{}
	return &c
}

// envValue is the env an instance's constructor gets: with bindings, one
// env a runtime, made on its first object.
func (p *Program) envValue(vm *vm) (goja.Value, error) {
	if p == nil || (len(p.env) == 0 && p.bindings == nil) {
		return vm.rt.NewObject(), nil
	}
	if p.bindings == nil {
		return vm.hooks.jsonParse(goja.Undefined(), vm.rt.ToValue(string(p.env)))
	}
	if env, ok := p.envs.Load(vm); ok {
		return env.(goja.Value), nil
	}
	prog, err := workersProgram()
	if err != nil {
		return nil, err
	}
	makeEnv, _, _, err := p.bindings.install(vm, prog)
	if err != nil {
		return nil, err
	}
	env, err := p.bindings.makeEnv(vm, makeEnv, p.env)
	if err != nil {
		return nil, err
	}
	p.envs.Store(vm, env)
	return env, nil
}

// Env is the JSON object WithEnv gave p (nil: none).
func (p *Program) Env() json.RawMessage { return p.env }
