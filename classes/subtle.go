package classes

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"hash"

	"github.com/dop251/goja"
)

// The natives behind crypto.subtle (js/subtle.js): the work is done at
// once, in Go, and the prelude wraps the results in promises.

// hashes are the digests crypto.subtle knows, by WebCrypto's names.
var hashes = map[string]func() hash.Hash{
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

// bytesArg reads the (buffer, offset, length) triple at argument i, as
// the prelude passes a BufferSource's bytes; the slice aliases the
// buffer.
func (vm *vm) bytesArg(fc goja.FunctionCall, i int) []byte {
	ab, ok := fc.Argument(i).Export().(goja.ArrayBuffer)
	if !ok {
		vm.typeError("expected an ArrayBuffer")
	}
	b := ab.Bytes()
	off, n := fc.Argument(i+1).ToInteger(), fc.Argument(i+2).ToInteger()
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		vm.typeError("offset and length are outside the buffer")
	}
	return b[off : off+n]
}

func (vm *vm) hashArg(fc goja.FunctionCall) func() hash.Hash {
	h, ok := hashes[fc.Argument(0).String()]
	if !ok {
		vm.typeError("unknown hash %s", fc.Argument(0).String())
	}
	return h
}

// digest(hash, buffer, offset, length) is the digest as an ArrayBuffer.
func (vm *vm) digest(fc goja.FunctionCall) goja.Value {
	h := vm.hashArg(fc)()
	h.Write(vm.bytesArg(fc, 1))
	return vm.rt.ToValue(vm.rt.NewArrayBuffer(h.Sum(nil)))
}

// hmacSign(hash, key, data) is HMAC(key, data) as an ArrayBuffer; key and
// data are ArrayBuffers.
func (vm *vm) hmacSign(fc goja.FunctionCall) goja.Value {
	newHash := vm.hashArg(fc)
	key, ok := fc.Argument(1).Export().(goja.ArrayBuffer)
	if !ok {
		vm.typeError("expected an ArrayBuffer")
	}
	m := hmac.New(newHash, key.Bytes())
	m.Write(vm.bytesArg(fc, 2))
	return vm.rt.ToValue(vm.rt.NewArrayBuffer(m.Sum(nil)))
}

// timingSafeEqual(a, aOff, aLen, b, bOff, bLen) compares two byte ranges
// of equal length in time that does not depend on where they differ.
func (vm *vm) timingSafeEqual(fc goja.FunctionCall) goja.Value {
	a, b := vm.bytesArg(fc, 0), vm.bytesArg(fc, 3)
	return vm.rt.ToValue(len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1)
}
