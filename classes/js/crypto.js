// crypto.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  define("crypto", Object.freeze({
    randomUUID: () => native.randomUUID(),
    getRandomValues(ta) {
      if (!(ta instanceof TypedArray) || ta instanceof Float32Array || ta instanceof Float64Array) {
        throw new TypeError("getRandomValues: expected an integer typed array");
      }
      if (ta.byteLength > 65536) throw new RangeError("getRandomValues: at most 65536 bytes");
      new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength).set(new Uint8Array(native.randomBytes(ta.byteLength)));
      return ta;
    },
  }));
