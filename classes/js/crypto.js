// crypto: randomUUID, getRandomValues, and subtle (subtle.js).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  define("crypto", Object.freeze({
    subtle,
    randomUUID: () => native.randomUUID(),
    getRandomValues(ta) {
      if (!(ta instanceof TypedArray) || ta instanceof Float32Array || ta instanceof Float64Array) {
        throw new DOMException("getRandomValues: expected an integer typed array", "TypeMismatchError");
      }
      if (ta.byteLength > 65536) {
        throw new DOMException(`getRandomValues: ${ta.byteLength} bytes is over the quota of 65536`, "QuotaExceededError");
      }
      new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength).set(new Uint8Array(native.randomBytes(ta.byteLength)));
      return ta;
    },
  }));
