// Blob and File.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // blobType is a Blob's type as the File API normalizes it: lower case,
  // or "" when it has characters outside U+0020 to U+007E.
  function blobType(t) {
    if (t === undefined) return "";
    t = `${t}`;
    return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : "";
  }
  // blobBytes joins BlobParts into one Uint8Array.
  function blobBytes(parts) {
    const views = [];
    let total = 0;
    for (const p of parts) {
      let v;
      if (p instanceof Blob) v = p._bytes;
      else v = toBytesView(p);
      if (v === null) v = new Uint8Array(native.encodeUTF8(`${p}`));
      views.push(v);
      total += v.byteLength;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const v of views) { out.set(v, at); at += v.byteLength; }
    return out;
  }
  class Blob {
    constructor(parts, options) {
      if (parts !== undefined && (parts === null || typeof parts !== "object" || typeof parts[Symbol.iterator] !== "function")) {
        throw new TypeError("Blob: the parts must be a sequence");
      }
      this._bytes = blobBytes(parts === undefined ? [] : Array.from(parts));
      this._type = blobType(options === undefined || options === null ? undefined : options.type);
    }
    get size() { return this._bytes.byteLength; }
    get type() { return this._type; }
    slice(start, end, contentType) {
      const n = this._bytes.byteLength;
      const rel = (x, d) => { if (x === undefined) return d; x = Math.trunc(Number(x)) || 0; return x < 0 ? Math.max(n + x, 0) : Math.min(x, n); };
      const from = rel(start, 0), to = rel(end, n);
      const b = objectCreate(Blob.prototype);
      b._bytes = this._bytes.slice(from, Math.max(from, to));
      b._type = blobType(contentType);
      return b;
    }
    text() { return Promise.resolve(decodeUTF8(this._bytes)); }
    arrayBuffer() { return Promise.resolve(this._bytes.slice().buffer); }
    bytes() { return Promise.resolve(this._bytes.slice()); }
    stream() { return bytesStream(this._bytes.buffer.slice(this._bytes.byteOffset, this._bytes.byteOffset + this._bytes.byteLength)); }
    get [Symbol.toStringTag]() { return "Blob"; }
  }
  class File extends Blob {
    constructor(bits, name, options) {
      if (arguments.length < 2) throw new TypeError(`File: 2 arguments required, but only ${arguments.length} present`);
      super(bits, options);
      this._name = `${name}`;
      const lm = options === undefined || options === null ? undefined : options.lastModified;
      this._lastModified = lm === undefined ? Date.now() : Math.trunc(Number(lm)) || 0;
    }
    get name() { return this._name; }
    get lastModified() { return this._lastModified; }
    get [Symbol.toStringTag]() { return "File"; }
  }
  define("Blob", Blob);
  define("File", File);
