// crypto.subtle: digest, and HMAC keys (importKey, exportKey,
// generateKey, sign, verify); and Cloudflare's timingSafeEqual.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // bufferSource is a BufferSource's bytes as a Uint8Array over them.
  function bufferSource(b, what) {
    const v = toBytesView(b);
    if (v === null) throw new TypeError(`${what} must be an ArrayBuffer or an ArrayBuffer view`);
    return v;
  }
  // hashOf is the name of a HashAlgorithmIdentifier ("SHA-256" or
  // {name: "sha-256"}), normalized.
  function hashOf(h) {
    const name = String(typeof h === "object" && h !== null ? h.name : h).toUpperCase();
    if (name !== "SHA-1" && name !== "SHA-256" && name !== "SHA-384" && name !== "SHA-512") {
      throw new DOMException(`Unrecognized hash algorithm ${name}`, "NotSupportedError");
    }
    return name;
  }
  function algorithmName(a) {
    return String(typeof a === "object" && a !== null ? a.name : a).toUpperCase();
  }
  const KEY_USAGES = ["sign", "verify"];
  // keyBytes holds a CryptoKey's secret where class code cannot reach it.
  const keyBytes = new WeakMap();
  class CryptoKey {
    constructor() { throw new TypeError("Illegal constructor"); }
    get [Symbol.toStringTag]() { return "CryptoKey"; }
  }
  function hmacKey(bytes, hash, extractable, usages) {
    const us = Array.from(usages, String);
    for (const u of us) {
      if (!KEY_USAGES.includes(u)) throw new DOMException(`HMAC keys do not support the usage ${u}`, "SyntaxError");
    }
    if (us.length === 0) throw new DOMException("a secret key needs at least one usage", "SyntaxError");
    const k = objectCreate(CryptoKey.prototype);
    Object.defineProperties(k, {
      type: { value: "secret", enumerable: true },
      extractable: { value: !!extractable, enumerable: true },
      algorithm: { value: Object.freeze({ name: "HMAC", hash: Object.freeze({ name: hash }), length: bytes.byteLength * 8 }), enumerable: true },
      usages: { value: Object.freeze(us), enumerable: true },
    });
    keyBytes.set(k, bytes);
    return k;
  }
  // keyFor checks that key is an HMAC key with usage, returning its bytes.
  function keyFor(alg, key, usage) {
    if (algorithmName(alg) !== "HMAC") throw new DOMException(`Unrecognized algorithm ${algorithmName(alg)}`, "NotSupportedError");
    const bytes = keyBytes.get(key);
    if (bytes === undefined) throw new TypeError("the key is not a CryptoKey");
    if (key.algorithm.name !== "HMAC") throw new DOMException("the key is not an HMAC key", "InvalidAccessError");
    if (!key.usages.includes(usage)) throw new DOMException(`the key does not allow ${usage}`, "InvalidAccessError");
    return bytes;
  }
  // blockBits is an HMAC key's default length: its hash's block size.
  function blockBits(hash) { return hash === "SHA-384" || hash === "SHA-512" ? 1024 : 512; }
  function hmacOf(key, data) {
    const d = bufferSource(data, "data");
    return native.hmacSign(key.algorithm.hash.name, keyBytes.get(key), d.buffer, d.byteOffset, d.byteLength);
  }
  // promised runs f now and returns its result as a promise; what it
  // throws rejects the promise, as WebCrypto's methods do.
  function promised(f) {
    try { return Promise.resolve(f()); } catch (e) { return Promise.reject(e); }
  }
  const subtle = Object.freeze({
    digest: (alg, data) => promised(() => {
      const d = bufferSource(data, "data");
      return native.digest(hashOf(alg), d.buffer, d.byteOffset, d.byteLength);
    }),
    importKey: (format, keyData, alg, extractable, usages) => promised(() => {
      if (format !== "raw") throw new DOMException(`key format ${format} is not supported (only "raw")`, "NotSupportedError");
      if (algorithmName(alg) !== "HMAC") throw new DOMException(`Unrecognized algorithm ${algorithmName(alg)}`, "NotSupportedError");
      const d = bufferSource(keyData, "keyData");
      if (d.byteLength === 0) throw new DOMException("an HMAC key cannot be empty", "DataError");
      return hmacKey(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength), hashOf(alg.hash), extractable, usages);
    }),
    exportKey: (format, key) => promised(() => {
      if (format !== "raw") throw new DOMException(`key format ${format} is not supported (only "raw")`, "NotSupportedError");
      const bytes = keyBytes.get(key);
      if (bytes === undefined) throw new TypeError("the key is not a CryptoKey");
      if (!key.extractable) throw new DOMException("the key is not extractable", "InvalidAccessError");
      return bytes.slice(0);
    }),
    generateKey: (alg, extractable, usages) => promised(() => {
      if (algorithmName(alg) !== "HMAC") throw new DOMException(`Unrecognized algorithm ${algorithmName(alg)}`, "NotSupportedError");
      const hash = hashOf(alg.hash);
      const bits = alg.length === undefined ? blockBits(hash) : Number(alg.length);
      if (!isInteger(bits) || bits <= 0 || bits % 8 !== 0 || bits > 65536 * 8) throw new DOMException(`HMAC key length ${alg.length} is not supported`, "OperationError");
      return hmacKey(native.randomBytes(bits / 8), hash, extractable, usages);
    }),
    sign: (alg, key, data) => promised(() => { keyFor(alg, key, "sign"); return hmacOf(key, data); }),
    verify: (alg, key, signature, data) => promised(() => {
      keyFor(alg, key, "verify");
      const sig = bufferSource(signature, "signature");
      const mac = hmacOf(key, data);
      return native.timingSafeEqual(mac, 0, mac.byteLength, sig.buffer, sig.byteOffset, sig.byteLength);
    }),
    // timingSafeEqual is Cloudflare's: synchronous, and a TypeError when
    // the lengths differ.
    timingSafeEqual(a, b) {
      const x = bufferSource(a, "a"), y = bufferSource(b, "b");
      if (x.byteLength !== y.byteLength) throw new TypeError("timingSafeEqual: the two buffers must be of the same length");
      return native.timingSafeEqual(x.buffer, x.byteOffset, x.byteLength, y.buffer, y.byteOffset, y.byteLength);
    },
  });
  define("CryptoKey", CryptoKey);
