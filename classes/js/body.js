// The body Request and Response share.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // Defaults the objects the engine makes (and Response.json) leave to
  // their prototypes: fewer own properties to create on each call.
  function protoDefault(proto, k, value) {
    Object.defineProperty(proto, k, { value, writable: true, configurable: true, enumerable: false });
  }
  // A body is kept as null, a string, or an ArrayBuffer.
  function bodyInit(body) {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return body;
    if (body instanceof ArrayBuffer) return body.slice(0);
    if (ArrayBuffer.isView(body)) return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
    if (body instanceof URLSearchParams) return body.toString();
    if (typeof body === "object" && typeof body.getReader === "function") throw new TypeError("streams are not supported as bodies");
    return String(body);
  }
  // defaultContentType sets the Content-Type fetch's spec gives a body
  // given as init (a string or URLSearchParams), unless one is set.
  function defaultContentType(init, headers) {
    if (headers.has("content-type")) return;
    if (init instanceof URLSearchParams) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
    else if (init !== null && init !== undefined && !(init instanceof ArrayBuffer) && !ArrayBuffer.isView(init)) headers.set("content-type", "text/plain;charset=UTF-8");
  }
  // headersOf builds Headers from the engine's "name\0value\0…" (names
  // lower case and valid, values without NUL), unchecked.
  function headersOf(raw) {
    const h = objectCreate(Headers.prototype);
    const m = new Map();
    if (raw !== "") {
      const p = raw.split("\0");
      for (let i = 0; i + 1 < p.length; i += 2) m.set(p[i], p[i + 1]);
    }
    h._m = m;
    return h;
  }
  // A Request the engine makes, or a Response from Response.json, keeps
  // its headers as that string (_hs) until the class first reads
  // .headers: most calls never do, and a Headers with its Map costs
  // more than the rest of the object. _headers is null until then.
  class Body {
    get headers() {
      let h = this._headers;
      if (h === null || h === undefined) { h = headersOf(this._hs === undefined ? "" : this._hs); this._headers = h; }
      return h;
    }
    set headers(v) { this._headers = v; }
    _consume() {
      if (this._used) return Promise.reject(new TypeError("Body has already been used"));
      this._used = true;
      return Promise.resolve(this._body);
    }
    get bodyUsed() { return this._used; }
    get body() { return this._body === null ? null : {}; }
    text() { return this._consume().then((b) => (b === null ? "" : typeof b === "string" ? b : decodeUTF8(b))); }
    json() { return this.text().then((t) => parseJSON(t)); }
    arrayBuffer() {
      return this._consume().then((b) => (b === null ? new ArrayBuffer(0) : typeof b === "string" ? native.encodeUTF8(b) : b.slice(0)));
    }
    bytes() { return this.arrayBuffer().then((b) => new Uint8Array(b)); }
    formData() { return Promise.reject(new TypeError("formData() is not supported")); }
    blob() { return Promise.reject(new TypeError("blob() is not supported")); }
  }
