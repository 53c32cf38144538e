// Response.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // responseInit checks a ResponseInit's status and statusText.
  function responseStatus(init) {
    const status = init === undefined || init === null || init.status === undefined ? 200 : Number(init.status);
    if (!isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`Response status ${init.status} is not in the range 200 to 599`);
    }
    return status;
  }
  function nullBodyStatus(status) { return status === 204 || status === 205 || status === 304; }
  const JSON_HEADERS = "content-type\0application/json\0";
  class Response extends Body {
    constructor(body, init) {
      super();
      const status = responseStatus(init);
      this.status = status;
      this.statusText = init === undefined || init === null || init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init === undefined || init === null ? undefined : init.headers);
      setBody(this, body, this.headers);
      if (this._body !== null && nullBodyStatus(status)) {
        throw new TypeError(`Response with status ${status} cannot have a body`);
      }
      this._used = false;
    }
    get ok() { return this.status >= 200 && this.status <= 299; }
    get redirected() { return this._redirected === true; }
    get type() { return "default"; }
    get url() { return this._url === undefined ? "" : this._url; }
    clone() {
      if (this.bodyUsed) throw new TypeError("Body has already been used");
      const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
      r._body = this._cloneBody();
      return r;
    }
    static json(data, init) {
      const status = responseStatus(init);
      if (nullBodyStatus(status)) throw new TypeError(`Response with status ${status} cannot have a body`);
      const text = stringify_(data);
      if (text === undefined) throw new TypeError("Response.json: the value cannot be serialized as JSON");
      const given = init !== undefined && init !== null && init.headers !== undefined && init.headers !== null;
      const r = objectCreate(Response.prototype);
      r.status = status;
      if (given && init.statusText !== undefined) r.statusText = String(init.statusText);
      if (given) {
        const headers = new Headers(init.headers);
        if (!headers.has("content-type")) headers._m.set("content-type", "application/json");
        r._headers = headers;
      } else {
        r._hs = JSON_HEADERS;
      }
      r._body = text;
      return r;
    }
    static redirect(url, status) {
      status = status === undefined ? 302 : status;
      if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError(`invalid redirect status ${status}`);
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
    static error() { throw new TypeError("Response.error() is not supported"); }
    get [Symbol.toStringTag]() { return "Response"; }
  }
  protoDefault(Response.prototype, "statusText", "");
  define("Response", Response);
