package classes

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dobj/dobj/objects"
	"github.com/dop251/goja"
)

// The storage natives: ctx.storage's methods (js/storage.js wraps them in
// promises) over the call's overlay of its State.

// mustCall is the running call; storage outside a call (a module's top
// level) is an error.
func (vm *vm) mustCall() *call {
	if vm.call == nil || vm.call.state == nil {
		vm.throw(vm.hooks.errorCtor, errors.New("storage is only available while the object handles a call"))
	}
	return vm.call
}

// key checks a storage key: a non-empty string of at most MaxKeyBytes.
func (vm *vm) key(v goja.Value) string {
	s, ok := v.(goja.String)
	if !ok {
		vm.typeError("storage keys must be strings")
	}
	if s.Length() > vm.cfg.MaxKeyBytes { // every UTF-16 unit is at least one byte
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: over %d bytes", ErrKeyTooLarge, vm.cfg.MaxKeyBytes))
	}
	k := s.String()
	if k == "" {
		vm.typeError("storage keys must not be empty")
	}
	if len(k) > vm.cfg.MaxKeyBytes {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: %d bytes, over %d", ErrKeyTooLarge, len(k), vm.cfg.MaxKeyBytes))
	}
	return k
}

func (vm *vm) keyList(v goja.Value) []string {
	o, ok := v.(*goja.Object)
	if !ok {
		vm.typeError("expected an array of keys")
	}
	n := o.Get("length").ToInteger()
	keys := make([]string, 0, n)
	for i := range n {
		keys = append(keys, vm.key(o.Get(fmt.Sprint(i))))
	}
	return keys
}

// encodeValue encodes v for storage, throwing the errors a class sees.
// what names the operation in them; for a put it is the key, so that the
// message is only formatted when there is an error (puts are hot).
func (vm *vm) encodeValue(what string, v goja.Value, max int) json.RawMessage {
	return vm.encodeFor(what, false, v, max)
}

// encodePut is encodeValue for put(key).
func (vm *vm) encodePut(key string, v goja.Value) json.RawMessage {
	return vm.encodeFor(key, true, v, vm.cfg.MaxValueBytes)
}

func (vm *vm) encodeFor(what string, isPutKey bool, v goja.Value, max int) json.RawMessage {
	raw, err := vm.encode(v, max)
	if err == nil {
		return raw
	}
	if isPutKey {
		what = fmt.Sprintf("put(%q)", what)
	}
	switch {
	case errors.Is(err, errTooLarge):
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: %s: over %d bytes of JSON", ErrValueTooLarge, what, max))
	case errors.Is(err, ErrNotSerializable):
		vm.throw(vm.hooks.typeErrorCtor, fmt.Errorf("%s: %w (DataCloneError)", what, err))
	case err != nil:
		vm.throw(vm.hooks.errorCtor, fmt.Errorf("%s: %w", what, err))
	}
	return raw
}

func (vm *vm) decodeStored(key string, raw json.RawMessage) goja.Value {
	v, err := vm.decode(raw)
	if err != nil {
		vm.throw(vm.hooks.errorCtor, fmt.Errorf("key %q: %w", key, err))
	}
	return v
}

func (vm *vm) storageGet(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	k := vm.key(fc.Argument(0))
	raw, ok := vm.kvGet(c, k)
	if !ok {
		return goja.Undefined()
	}
	return vm.decodeStored(k, raw)
}

// storageGetMany returns a Map of the keys found, in key order.
func (vm *vm) storageGetMany(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	keys := vm.keyList(fc.Argument(0))
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var pairs []any
	for _, k := range keys {
		if raw, ok := vm.kvGet(c, k); ok {
			pairs = append(pairs, vm.rt.NewArray(k, vm.decodeStored(k, raw)))
		}
	}
	return vm.newMap(pairs)
}

func (vm *vm) newMap(pairs []any) goja.Value {
	m, err := vm.rt.New(vm.hooks.mapCtor, vm.rt.NewArray(pairs...))
	if err != nil {
		panic(err)
	}
	return m
}

// put records key=raw in the overlay, counting it against MaxWriteBytes.
func (vm *vm) put(c *call, k string, raw json.RawMessage) {
	c.written += len(k) + len(raw)
	if c.written > vm.cfg.MaxWriteBytes {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: over %d bytes of keys and values put in one call", ErrWriteTooLarge, vm.cfg.MaxWriteBytes))
	}
	vm.kvPut(c, k, raw)
}

func (vm *vm) storagePut(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	k := vm.key(fc.Argument(0))
	raw := vm.encodePut(k, fc.Argument(1))
	vm.put(c, k, raw)
	return goja.Undefined()
}

// storagePutMany puts every own property of an object: all are encoded
// before any is written, so a bad one writes none.
func (vm *vm) storagePutMany(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	o := fc.Argument(0).ToObject(vm.rt)
	keys := o.Keys()
	slices.Sort(keys)
	raws := make([]json.RawMessage, len(keys))
	for i, k := range keys {
		vm.key(vm.rt.ToValue(k))
		raws[i] = vm.encodePut(k, o.Get(k))
	}
	for i, k := range keys {
		vm.put(c, k, raws[i])
	}
	return goja.Undefined()
}

func (vm *vm) storageDelete(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	return vm.rt.ToValue(vm.kvDelete(c, vm.key(fc.Argument(0))))
}

// storageDeleteMany deletes keys and returns how many were there.
func (vm *vm) storageDeleteMany(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	keys := vm.keyList(fc.Argument(0))
	slices.Sort(keys)
	n := 0
	for _, k := range slices.Compact(keys) {
		if vm.kvDelete(c, k) {
			n++
		}
	}
	return vm.rt.ToValue(n)
}

// storageList implements list(options), returning a Map in list order.
func (vm *vm) storageList(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	opts := vm.listOptions(fc.Argument(0))
	entries := vm.kvList(c, opts)
	pairs := make([]any, len(entries))
	for i, e := range entries {
		pairs[i] = vm.rt.NewArray(e.Key, vm.decodeStored(e.Key, e.Value))
	}
	return vm.newMap(pairs)
}

func (vm *vm) listOptions(v goja.Value) objects.ListOptions {
	var opts objects.ListOptions
	o, ok := v.(*goja.Object)
	if !ok {
		vm.typeError("list: options must be an object")
	}
	str := func(name string, dst *string) {
		x := o.Get(name)
		if x == nil || goja.IsUndefined(x) {
			return
		}
		if _, ok := x.(goja.String); !ok {
			vm.typeError("list: %s must be a string", name)
		}
		*dst = x.String()
	}
	str("prefix", &opts.Prefix)
	str("start", &opts.Start)
	str("startAfter", &opts.StartAfter)
	str("end", &opts.End)
	if opts.Start != "" && opts.StartAfter != "" {
		vm.typeError("list: start and startAfter cannot both be set")
	}
	if x := o.Get("limit"); x != nil && !goja.IsUndefined(x) {
		f := x.ToFloat()
		if f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
			vm.typeError("list: limit must be a positive integer")
		}
		opts.Limit = int(f)
	}
	if x := o.Get("reverse"); x != nil {
		opts.Reverse = x.ToBoolean()
	}
	return opts
}

func (vm *vm) storageDeleteAll(goja.FunctionCall) goja.Value {
	vm.kvDeleteAll(vm.mustCall())
	return goja.Undefined()
}

func (vm *vm) storageGetAlarm(goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	at, ok := c.ov.alarmAt(c.state)
	if !ok {
		return goja.Null()
	}
	return vm.rt.ToValue(at)
}

func (vm *vm) storageSetAlarm(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	if !vm.hasAlarm {
		vm.typeError("setAlarm: the class has no alarm() handler")
	}
	v := fc.Argument(0)
	if !goja.IsNumber(v) {
		vm.typeError("setAlarm: expected a Date or a number of milliseconds")
	}
	f := v.ToFloat()
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 8.64e15 {
		vm.typeError("setAlarm: the time is not a valid date")
	}
	c.ov.alarm = &AlarmChange{At: int64(f)}
	return goja.Undefined()
}

func (vm *vm) storageDeleteAlarm(goja.FunctionCall) goja.Value {
	vm.mustCall().ov.alarm = &AlarmChange{Delete: true}
	return goja.Undefined()
}

// ---- transactions: savepoints of the overlay, and of the database ----

// txnBegin(sync) opens a transaction and returns its token: a copy of
// the overlay (the alarm, and the keys of an object that is not
// SQLite-backed) and, on a SQLite-backed object, a savepoint.
// transactionSync (sync) exists on SQLite-backed objects only, as on
// Cloudflare.
func (vm *vm) txnBegin(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	if fc.Argument(0).ToBoolean() && c.sql() == nil {
		vm.throw(vm.hooks.errorCtor, ErrNotSQLite)
	}
	if c.saves == nil {
		c.saves = make(map[int64]overlay)
	}
	c.nextSave++
	vm.sqlTxnBegin(c, c.nextSave)
	c.saves[c.nextSave] = c.ov.clone()
	return vm.rt.ToValue(c.nextSave)
}

func (vm *vm) txnCommit(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	token := fc.Argument(0).ToInteger()
	delete(c.saves, token)
	vm.sqlTxnEnd(c, token, true)
	return goja.Undefined()
}

func (vm *vm) txnRollback(fc goja.FunctionCall) goja.Value {
	c := vm.mustCall()
	token := fc.Argument(0).ToInteger()
	if save, ok := c.saves[token]; ok {
		c.ov = save
		delete(c.saves, token)
	}
	vm.sqlTxnEnd(c, token, false)
	return goja.Undefined()
}
