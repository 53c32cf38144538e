package classes

import (
	"context"
	"encoding/json"

	"github.com/dop251/goja"
)

// RPC runs method(args…) of the Worker's default export (a service
// binding's RPC): a method of the exported object, or of a new instance
// of an exported WorkerEntrypoint class built with (ctx, env). args and
// the result are as Engine.RPC's; a throw or a missing method is a
// *ScriptError.
func (w *Worker) RPC(ctx context.Context, method string, args []byte) (json.RawMessage, error) {
	return w.RPCEntrypoint(ctx, "", method, args)
}

// RPCEntrypoint is RPC of the module's export named entrypoint (a
// WorkerEntrypoint class), or of its default export when entrypoint is
// empty.
func (w *Worker) RPCEntrypoint(ctx context.Context, entrypoint, method string, args []byte) (json.RawMessage, error) {
	var enc []byte
	err := w.onRuntime(ctx, func(wv *workerVM, in *instance) error {
		v, err := in.run(func() (goja.Value, error) {
			handler, err := wv.entrypoint(entrypoint)
			if err != nil {
				return nil, err
			}
			list, err := in.rpcArgs(args)
			if err != nil {
				return nil, err
			}
			all := append([]goja.Value{handler, wv.env, wv.vm.rt.ToValue(method)}, wv.vm.rt.NewArray(toAny(list)...))
			return wv.entry(goja.Undefined(), all...)
		})
		if err == nil {
			v, err = in.settle(v, method)
		}
		if err != nil || v == nil || goja.IsUndefined(v) {
			return err
		}
		_, err = in.run(func() (goja.Value, error) {
			enc, err = wv.vm.encode(v, w.cfg.MaxResponseBytes)
			return nil, err
		})
		if err != nil {
			return &ScriptError{Name: "DataCloneError", Message: "DataCloneError: the result of " + method + ": " + err.Error(), Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return enc, nil
}

func toAny(vs []goja.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
