// The body Request and Response share.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // Defaults the objects the engine makes (and Response.json) leave to
  // their prototypes: fewer own properties to create on each call.
  function protoDefault(proto, k, value) {
    Object.defineProperty(proto, k, { value, writable: true, configurable: true, enumerable: false });
  }
  // extractBody is fetch's "extract a body": [the body as kept, the
  // Content-Type it implies or null]. A body is kept as null, a string,
  // an ArrayBuffer, or a ReadableStream (read to its end when the body is
  // consumed or sent).
  const TEXT_TYPE = "text/plain;charset=UTF-8";
  function extractBody(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === "string") return [body, TEXT_TYPE];
    if (body instanceof ArrayBuffer) return [body.slice(0), null];
    if (ArrayBuffer.isView(body)) return [body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength), null];
    if (body instanceof URLSearchParams) return [body.toString(), "application/x-www-form-urlencoded;charset=UTF-8"];
    if (body instanceof Blob) return [body._bytes.slice().buffer, body.type === "" ? null : body.type];
    if (body instanceof FormData) { const [ct, b] = multipartBody(body); return [b, ct]; }
    if (body instanceof ReadableStream) {
      if (body.locked || body._disturbed) throw new TypeError("the body stream is locked or was read already");
      return [body, null];
    }
    return [String(body), TEXT_TYPE];
  }
  // setBody sets what extractBody makes of init, and the Content-Type it
  // implies unless headers has one.
  function setBody(r, init, headers) {
    const [b, ct] = extractBody(init);
    r._body = b;
    if (ct !== null && !headers.has("content-type")) headers.set("content-type", ct);
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
    // _consume is the whole body: null, a string or an ArrayBuffer. A
    // stream body (given, or .body read) is read to its end, bounded as
    // a response is.
    _consume() {
      if (this.bodyUsed) return Promise.reject(new TypeError("Body has already been used"));
      const b = this._body, st = this._stream;
      if (b instanceof ReadableStream || (st !== undefined && st !== null)) {
        const s = b instanceof ReadableStream ? b : st;
        if (s.locked) return Promise.reject(new TypeError("the body stream is locked to a reader"));
        this._used = true;
        return readAll(s, bodyLimit, "body");
      }
      this._used = true;
      return Promise.resolve(b);
    }
    get bodyUsed() {
      if (this._used) return true;
      const b = this._body instanceof ReadableStream ? this._body : this._stream;
      return b !== undefined && b !== null && b._disturbed;
    }
    // body is the body as a ReadableStream: one chunk of its bytes when it
    // is whole underneath.
    get body() {
      const b = this._body;
      if (b === null) return null;
      if (b instanceof ReadableStream) return b;
      let st = this._stream;
      if (st === undefined || st === null) {
        st = bytesStream(this._used ? null : b);
        if (this._used) st._disturbed = true;
        this._stream = st;
      }
      return st;
    }
    // _cloneBody is the body for a clone: a stream body is teed, this
    // keeping one branch.
    _cloneBody() {
      let b = this._body;
      if (b === null || !(b instanceof ReadableStream) && (this._stream === undefined || this._stream === null)) return b;
      if (!(b instanceof ReadableStream)) b = this._stream;
      const [mine, theirs] = b.tee();
      this._body = mine;
      this._stream = null;
      return theirs;
    }
    text() { return this._consume().then((b) => (b === null ? "" : typeof b === "string" ? b : decodeUTF8(b))); }
    json() { return this.text().then((t) => parseJSON(t)); }
    arrayBuffer() {
      return this._consume().then((b) => (b === null ? new ArrayBuffer(0) : typeof b === "string" ? native.encodeUTF8(b) : b.slice(0)));
    }
    bytes() { return this.arrayBuffer().then((b) => new Uint8Array(b)); }
    formData() {
      const ct = this.headers.get("content-type");
      return this._consume().then((b) => parseFormData(ct, b));
    }
    blob() {
      const ct = this.headers.get("content-type");
      return this.arrayBuffer().then((b) => new Blob([b], { type: ct === null ? "" : ct }));
    }
  }
