// Request.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"];
  class Request extends Body {
    constructor(input, init) {
      super();
      init = init || {};
      let src = null;
      if (input instanceof Request) { src = input; }
      this.url = src ? src.url : new URL(String(input)).href;
      let m = init.method !== undefined ? String(init.method) : src ? src.method : "GET";
      if (METHODS.includes(m.toUpperCase())) m = m.toUpperCase();
      this.method = m;
      this.headers = new Headers(init.headers !== undefined ? init.headers : src ? src.headers : undefined);
      if (init.body !== undefined) setBody(this, init.body, this.headers);
      else this._body = src ? src._cloneBody() : null;
      if (this._body !== null && (this.method === "GET" || this.method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have a body");
      }
      this._used = false;
      this.signal = init.signal !== undefined ? init.signal : src ? src.signal : null;
    }
    clone() {
      if (this.bodyUsed) throw new TypeError("Body has already been used");
      return new Request(this);
    }
    get [Symbol.toStringTag]() { return "Request"; }
  }
  protoDefault(Body.prototype, "_headers", null);
  protoDefault(Body.prototype, "_used", false);
  protoDefault(Request.prototype, "signal", null);
  define("Request", Request);
