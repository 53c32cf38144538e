package classes

import (
	"fmt"

	"github.com/dop251/goja"
)

// Bodies are whole underneath: a Response whose body is a ReadableStream
// (js/streams.js) is read to its end, within the response limit, before
// the engine sends it (instance.responseOf).

// bodyLimit is the bound on a stream body read whole: MaxResponseBytes.
func (vm *vm) bodyLimit(goja.FunctionCall) goja.Value {
	return vm.rt.ToValue(vm.cfg.MaxResponseBytes)
}

// tooLarge(what, n) throws the RangeError of a stream body over
// bodyLimit (ErrResponseTooLarge).
func (vm *vm) tooLarge(fc goja.FunctionCall) goja.Value {
	vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: %s's body stream is over %d bytes (%d read)",
		ErrResponseTooLarge, fc.Argument(0).String(), vm.cfg.MaxResponseBytes, fc.Argument(1).ToInteger()))
	return nil
}
