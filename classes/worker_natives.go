package classes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/dobj/dobj/objects"
	"github.com/dop251/goja"
)

// The Go half of workers.js: ids of a namespace, and stubs' calls, which
// run as the request's asynchronous I/O (asyncio.go).

// bindings are the Durable Object namespaces of an env and how their
// stubs call out: a Worker's, or a script class's objects' (WithBindings).
type bindings struct {
	namespaces []Namespace
	services   []string // service bindings' env names
	out        Outbound
}

func (w *bindings) natives(vm *vm) *goja.Object {
	o := vm.rt.NewObject()
	for name, fn := range map[string]func(goja.FunctionCall) goja.Value{
		"idFromName":   func(fc goja.FunctionCall) goja.Value { return w.idFromName(vm, fc) },
		"idFromString": func(fc goja.FunctionCall) goja.Value { return w.idFromString(vm, fc) },
		"newUniqueId":  func(fc goja.FunctionCall) goja.Value { return w.newUniqueID(vm, fc) },
		"rpc":          func(fc goja.FunctionCall) goja.Value { return w.rpc(vm, fc) },
		"fetch":        func(fc goja.FunctionCall) goja.Value { return w.fetch(vm, fc) },
		"serviceRPC":   func(fc goja.FunctionCall) goja.Value { return w.serviceRPC(vm, fc) },
		"serviceFetch": func(fc goja.FunctionCall) goja.Value { return w.serviceFetch(vm, fc) },
		"upgrade":      func(fc goja.FunctionCall) goja.Value { return w.upgrade(vm, fc) },
		"upgraded":     func(fc goja.FunctionCall) goja.Value { return w.upgraded(vm, fc) },
		"waitUntil":    vm.waitUntil,
	} {
		o.Set(name, fn)
	}
	return o
}

// namespace is binding fc's argument 0 names.
func (w *bindings) namespace(vm *vm, fc goja.FunctionCall) objects.Namespace {
	b := int(fc.Argument(0).ToInteger())
	if b < 0 || b >= len(w.namespaces) {
		vm.typeError("no such namespace binding")
	}
	return w.namespaces[b].NS
}

func (w *bindings) idFromName(vm *vm, fc goja.FunctionCall) goja.Value {
	return vm.rt.ToValue(w.namespace(vm, fc).IDFromName(fc.Argument(1).String()).String())
}

func (w *bindings) idFromString(vm *vm, fc goja.FunctionCall) goja.Value {
	id, err := w.namespace(vm, fc).IDFromString(fc.Argument(1).String())
	if err != nil {
		vm.typeError("Invalid Durable Object ID: %v", err)
	}
	return vm.rt.ToValue(id.String())
}

func (w *bindings) newUniqueID(vm *vm, fc goja.FunctionCall) goja.Value {
	id, err := w.namespace(vm, fc).NewUniqueID(rand.Reader)
	if err != nil {
		vm.typeError("newUniqueId: %v", err)
	}
	return vm.rt.ToValue(id.String())
}

// stubID is the StubID of native's arguments id and name (undefined
// for an id made without one).
func stubID(id, name goja.Value) StubID {
	s := StubID{ID: id.String()}
	if !goja.IsUndefined(name) && !goja.IsNull(name) {
		s.Name = name.String()
	}
	return s
}

// rpc is native.rpc(binding, id, method, args, name): a promise of the
// result.
func (w *bindings) rpc(vm *vm, fc goja.FunctionCall) goja.Value {
	b, id, method := int(fc.Argument(0).ToInteger()), stubID(fc.Argument(1), fc.Argument(4)), fc.Argument(2).String()
	w.namespace(vm, fc)
	return w.rpcCall(vm, method, fc.Argument(3), func(ctx context.Context, args []byte) (json.RawMessage, error) {
		return w.out.RPC(ctx, b, id, method, args)
	})
}

// serviceRPC is native.serviceRPC(service, method, args).
func (w *bindings) serviceRPC(vm *vm, fc goja.FunctionCall) goja.Value {
	s, method := w.service(vm, fc), fc.Argument(1).String()
	return w.rpcCall(vm, method, fc.Argument(2), func(ctx context.Context, args []byte) (json.RawMessage, error) {
		return w.out.ServiceRPC(ctx, s, method, args)
	})
}

// service is the service binding fc's argument 0 names.
func (w *bindings) service(vm *vm, fc goja.FunctionCall) int {
	s := int(fc.Argument(0).ToInteger())
	if s < 0 || s >= len(w.services) {
		vm.typeError("no such service binding")
	}
	return s
}

// rpcCall encodes args, runs call as the request's I/O and returns a
// promise of its decoded result.
func (w *bindings) rpcCall(vm *vm, method string, argv goja.Value, call func(context.Context, []byte) (json.RawMessage, error)) goja.Value {
	args, err := vm.encode(argv, vm.cfg.MaxResponseBytes)
	if err != nil {
		vm.typeError("DataCloneError: the arguments of %s: %v", method, err)
	}
	c := vm.call
	p, resolve, reject := vm.rt.NewPromise()
	c.startIO(func(ctx context.Context) func() error {
		res, err := call(ctx, args)
		return func() error {
			if err != nil {
				return reject(vm.rejection(err))
			}
			if res == nil {
				return resolve(goja.Undefined())
			}
			v, err := vm.decode(res)
			if err != nil {
				return reject(vm.rejection(err))
			}
			return resolve(v)
		}
	})
	return vm.rt.ToValue(p)
}

// rejection is the exception a failed outbound call rejects with: the
// object's own (its name and message) or an Error with err's text.
func (vm *vm) rejection(err error) goja.Value {
	ctor, msg := vm.hooks.errorCtor, err.Error()
	var se *ScriptError
	if errors.As(err, &se) {
		msg = strings.TrimPrefix(se.Message, se.Name+": ")
		if c, ok := vm.rt.Get(se.Name).(*goja.Object); ok && se.Name != "" {
			if _, isFn := goja.AssertConstructor(c); isFn {
				ctor = c
			}
		}
	}
	o, e := vm.rt.New(ctor, vm.rt.ToValue(msg))
	if e != nil {
		return vm.rt.ToValue(msg)
	}
	if c := vm.call; c != nil && se == nil {
		// Uncaught, the node's error (an outcome unknown, …) stays the
		// cause of the Worker's failure.
		if c.thrown == nil {
			c.thrown = make(map[*goja.Object]error)
		}
		c.thrown[o] = err
	}
	return o
}

// fetch is native.fetch(binding, id, name, method, url, [[name,
// value]…], body): a promise of [status, [[name, value]…], ArrayBuffer].
func (w *bindings) fetch(vm *vm, fc goja.FunctionCall) goja.Value {
	b, id := int(fc.Argument(0).ToInteger()), stubID(fc.Argument(1), fc.Argument(2))
	w.namespace(vm, fc)
	return w.fetchCall(vm, fc.Arguments[min(3, len(fc.Arguments)):], func(ctx context.Context, req *Request) (*Response, error) {
		return w.out.Fetch(ctx, b, id, req)
	})
}

// serviceFetch is native.serviceFetch(service, method, url, headers, body).
func (w *bindings) serviceFetch(vm *vm, fc goja.FunctionCall) goja.Value {
	s := w.service(vm, fc)
	return w.fetchCall(vm, fc.Arguments[1:], func(ctx context.Context, req *Request) (*Response, error) {
		return w.out.ServiceFetch(ctx, s, req)
	})
}

// fetchCall builds the Request of [method, url, headers, body], runs
// call as the request's I/O and returns a promise of the Response's
// parts.
func (w *bindings) fetchCall(vm *vm, parts []goja.Value, call func(context.Context, *Request) (*Response, error)) goja.Value {
	arg := func(i int) goja.Value {
		if i < len(parts) {
			return parts[i]
		}
		return goja.Undefined()
	}
	req := &Request{Method: arg(0).String(), URL: arg(1).String(), Header: http.Header{}}
	var pairs [][]string
	if err := vm.rt.ExportTo(arg(2), &pairs); err != nil {
		vm.typeError("bad headers: %v", err)
	}
	for _, kv := range pairs {
		if len(kv) == 2 {
			req.Header.Add(kv[0], kv[1])
		}
	}
	if ab, ok := arg(3).Export().(goja.ArrayBuffer); ok {
		req.Body = bytes.Clone(ab.Bytes())
	}
	c := vm.call
	p, resolve, reject := vm.rt.NewPromise()
	c.startIO(func(ctx context.Context) func() error {
		resp, err := call(ctx, req)
		return func() error {
			if err != nil {
				return reject(vm.rejection(err))
			}
			hs := make([]any, 0, len(resp.Header))
			for k, vs := range resp.Header {
				for _, v := range vs {
					hs = append(hs, vm.rt.NewArray(k, v))
				}
			}
			status := resp.Status
			if status == 0 {
				status = 200
			}
			return resolve(vm.rt.NewArray(status, vm.rt.NewArray(hs...), vm.rt.NewArrayBuffer(resp.Body)))
		}
	})
	return vm.rt.ToValue(p)
}
