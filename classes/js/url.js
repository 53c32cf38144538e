// URLSearchParams and URL.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  function formEncode(s) {
    return encodeURIComponent(s).replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g, "+");
  }
  function formDecode(s) {
    if (s.indexOf("+") >= 0) s = s.split("+").join(" ");
    if (s.indexOf("%") < 0) return s;
    try { return decodeURIComponent(s); } catch (e) { return unescape(s); }
  }
  class URLSearchParams {
    constructor(init) {
      this._l = [];
      this._url = null;
      if (init === undefined || init === null) return;
      if (init instanceof URLSearchParams) {
        this._l = init._l.map((p) => [p[0], p[1]]);
      } else if (typeof init === "object" && typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have two items");
          this._l.push([String(p[0]), String(p[1])]);
        }
      } else if (typeof init === "object") {
        for (const k of Object.keys(init)) this._l.push([k, String(init[k])]);
      } else {
        this._parse(String(init));
      }
    }
    _parse(s) {
      this._l = [];
      if (s === "" || s === "?") return;
      if (s.startsWith("?")) s = s.slice(1);
      for (const part of s.split("&")) {
        if (part === "") continue;
        const i = part.indexOf("=");
        const k = i < 0 ? part : part.slice(0, i);
        const v = i < 0 ? "" : part.slice(i + 1);
        this._l.push([formDecode(k), formDecode(v)]);
      }
    }
    _update() { if (this._url !== null) this._url._search = this._l.length ? "?" + this.toString() : ""; }
    get size() { return this._l.length; }
    append(k, v) { this._l.push([String(k), String(v)]); this._update(); }
    delete(k, v) {
      k = String(k);
      this._l = this._l.filter((p) => !(p[0] === k && (v === undefined || p[1] === String(v))));
      this._update();
    }
    // get, getAll and has loop rather than pass a new arrow function to
    // find or some on each use.
    get(k) {
      k = String(k);
      const l = this._l;
      for (let i = 0; i < l.length; i++) if (l[i][0] === k) return l[i][1];
      return null;
    }
    getAll(k) {
      k = String(k);
      const l = this._l, out = [];
      for (let i = 0; i < l.length; i++) if (l[i][0] === k) out.push(l[i][1]);
      return out;
    }
    has(k, v) {
      k = String(k);
      if (v !== undefined) v = String(v);
      const l = this._l;
      for (let i = 0; i < l.length; i++) if (l[i][0] === k && (v === undefined || l[i][1] === v)) return true;
      return false;
    }
    set(k, v) {
      k = String(k); v = String(v);
      const i = this._l.findIndex((p) => p[0] === k);
      if (i < 0) { this._l.push([k, v]); } else {
        this._l[i][1] = v;
        this._l = this._l.filter((p, j) => j <= i || p[0] !== k);
      }
      this._update();
    }
    sort() {
      this._l = this._l.map((p, i) => [p, i]).sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1])).map((x) => x[0]);
      this._update();
    }
    forEach(cb, thisArg) { for (const [k, v] of this._l) cb.call(thisArg, v, k, this); }
    *entries() { for (const p of this._l) yield [p[0], p[1]]; }
    *keys() { for (const p of this._l) yield p[0]; }
    *values() { for (const p of this._l) yield p[1]; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this._l.map((p) => formEncode(p[0]) + "=" + formEncode(p[1])).join("&"); }
    get [Symbol.toStringTag]() { return "URLSearchParams"; }
  }
  define("URLSearchParams", URLSearchParams);

  class URL {
    constructor(url, base) {
      const u = native.parseURL(String(url), base === undefined ? undefined : String(base));
      // Parts that are usually empty are left to the prototype's
      // defaults: an object with more than eight own properties costs
      // goja a larger table, and a call's URL is made on every request.
      this._protocol = u[0];
      if (u[1] !== "") this._username = u[1];
      if (u[2] !== "") this._password = u[2];
      this._hostname = u[3];
      if (u[4] !== "") this._port = u[4];
      this._pathname = u[5];
      this._search = u[6];
      if (u[7] !== "") this._hash = u[7];
    }
    static canParse(url, base) {
      try { new URL(url, base); return true; } catch (e) { return false; }
    }
    get protocol() { return this._protocol; }
    set protocol(v) { v = String(v); this._protocol = v.endsWith(":") ? v : v + ":"; }
    get username() { return this._username; }
    set username(v) { this._username = String(v); }
    get password() { return this._password; }
    set password(v) { this._password = String(v); }
    get hostname() { return this._hostname; }
    set hostname(v) { this._hostname = String(v); }
    get port() { return this._port; }
    set port(v) { this._port = String(v); }
    get host() { return this._hostname + (this._port ? ":" + this._port : ""); }
    set host(v) {
      v = String(v);
      const i = v.lastIndexOf(":");
      if (i > 0 && !v.endsWith("]")) { this._hostname = v.slice(0, i); this._port = v.slice(i + 1); } else { this._hostname = v; this._port = ""; }
    }
    get origin() { return this._hostname ? this._protocol + "//" + this.host : "null"; }
    get pathname() { return this._pathname; }
    set pathname(v) { v = String(v); this._pathname = v.startsWith("/") ? v : "/" + v; }
    get search() { return this._search === "?" ? "" : this._search; }
    set search(v) {
      v = String(v);
      this._search = v === "" || v === "?" ? "" : (v.startsWith("?") ? v : "?" + v);
      if (this._sp !== null) this._sp._parse(this._search);
    }
    get searchParams() {
      if (this._sp === null) { this._sp = new URLSearchParams(this._search); this._sp._url = this; }
      return this._sp;
    }
    get hash() { return this._hash === "#" ? "" : this._hash; }
    set hash(v) { v = String(v); this._hash = v === "" ? "" : (v.startsWith("#") ? v : "#" + v); }
    get href() {
      const auth = this._username || this._password ? this._username + (this._password ? ":" + this._password : "") + "@" : "";
      const slashes = this._hostname || this._protocol === "file:" ? "//" : "";
      return this._protocol + slashes + auth + this.host + this._pathname + this.search + this.hash;
    }
    set href(v) {
      const u = new URL(v);
      Object.assign(this, { _protocol: u._protocol, _username: u._username, _password: u._password, _hostname: u._hostname, _port: u._port, _pathname: u._pathname, _search: u._search, _hash: u._hash });
      if (this._sp !== null) this._sp._parse(this._search);
    }
    toString() { return this.href; }
    toJSON() { return this.href; }
    get [Symbol.toStringTag]() { return "URL"; }
  }
  for (const k of ["_username", "_password", "_port", "_hash"]) {
    Object.defineProperty(URL.prototype, k, { value: "", writable: true, configurable: true, enumerable: false });
  }
  Object.defineProperty(URL.prototype, "_sp", { value: null, writable: true, configurable: true, enumerable: false });
  define("URL", URL);
