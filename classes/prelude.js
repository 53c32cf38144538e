// The Web APIs and the Durable Object context of dobj's class runtime.
// This file evaluates to a function that the engine calls once per runtime
// with its Go natives; it defines the globals and returns the hooks the
// engine drives (see vm.go). Written for goja (ES2017 and more).
(function (native, maxStringLength, maxArrayLength, regexpTimeoutMs) {
  "use strict";
  const g = globalThis;
  const TypedArray = Object.getPrototypeOf(Uint8Array);

  // Built-ins that turn a small input into a large allocation in one step
  // are bounded before they allocate: goja's Interrupt cannot stop a
  // built-in midway, so 'x'.repeat(1e8) would allocate its 100 MB (and
  // new Array(1e9).fill(0) its 16 GB) before the CPU limit could act.
  function guardString(name, n) {
    if (n > maxStringLength) native.throwTooLarge("string", name, n);
  }
  function guardArray(name, n) {
    if (n > maxArrayLength) native.throwTooLarge("array", name, n);
  }
  function replaceMethod(proto, name, wrap) {
    const orig = proto[name];
    Object.defineProperty(proto, name, { value: wrap(orig), writable: true, configurable: true, enumerable: false });
  }
  replaceMethod(String.prototype, "repeat", (orig) => function repeat(count) {
    const s = String(this);
    guardString("repeat", s.length * Math.max(0, Math.floor(Number(count)) || 0));
    return orig.call(s, count);
  });
  replaceMethod(String.prototype, "padStart", (orig) => function padStart(n, fill) {
    guardString("padStart", Number(n));
    return orig.call(this, n, fill);
  });
  replaceMethod(String.prototype, "padEnd", (orig) => function padEnd(n, fill) {
    guardString("padEnd", Number(n));
    return orig.call(this, n, fill);
  });
  replaceMethod(Array.prototype, "join", (orig) => function join(sep) {
    const n = Number(this.length) || 0;
    guardString("join", n * (sep === undefined ? 1 : String(sep).length));
    return orig.call(this, sep);
  });
  replaceMethod(Array.prototype, "fill", (orig) => function fill(value, start, end) {
    guardArray("fill", Number(this.length) || 0);
    return orig.call(this, value, start, end);
  });
  const arrayFromOrig = Array.from;
  Object.defineProperty(Array, "from", {
    value: function from(items, mapFn, thisArg) {
      if (items !== null && items !== undefined && typeof items[Symbol.iterator] !== "function") {
        guardArray("Array.from", Number(items.length) || 0);
      }
      return arrayFromOrig.call(this, items, mapFn, thisArg);
    }, writable: true, configurable: true, enumerable: false,
  });
  // Lengths given to ArrayBuffer and typed-array constructors, in bytes.
  // The wrapper shares the original's prototype, so instanceof holds for
  // buffers the engine makes too, and subclasses still work.
  function guardConstructor(name, bytesPer) {
    const C = g[name];
    const W = function (...args) {
      if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
      if (typeof args[0] === "number") guardArray(name, args[0] * bytesPer / 8);
      return Reflect.construct(C, args, new.target === W ? C : new.target);
    };
    Object.defineProperty(W, "name", { value: name });
    Object.defineProperty(W, "length", { value: C.length });
    W.prototype = C.prototype;
    Object.setPrototypeOf(W, C);
    Object.defineProperty(C.prototype, "constructor", { value: W, writable: true, configurable: true, enumerable: false });
    Object.defineProperty(g, name, { value: W, writable: true, configurable: true, enumerable: false });
  }
  guardConstructor("ArrayBuffer", 1);
  for (const name of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
    if (typeof g[name] === "function") guardConstructor(name, g[name].BYTES_PER_ELEMENT);
  }

  // A backtracking match that regexp2 gave up on (regexp.go) comes back
  // as no match, or as the matches found before it. The methods that
  // match are timed, and one that took the whole timeout with a pattern
  // only regexp2 runs (backreferences, lookaround) stops the call here.
  // exec is not wrapped: goja takes every method's fast path only while
  // RegExp.prototype.exec is its own (wrapping it made a global replace
  // ten times slower), so a direct exec of a timed-out match reports no
  // match after regexpTimeoutMs, which for a catastrophic pattern is
  // nearly always the answer.
  const regexpTest = RegExp.prototype.test;
  const backtracking = /\\[1-9]|\\k<|\(\?<?[=!]/;
  function timedRegexp(name, orig) {
    return ({
      [name](...args) {
        const t0 = native.monotonicMs();
        const r = orig.apply(this, args);
        if (native.monotonicMs() - t0 >= regexpTimeoutMs && regexpTest.call(backtracking, String(this.source))) {
          native.regexpTimedOut();
        }
        return r;
      },
    })[name];
  }
  replaceMethod(RegExp.prototype, "test", (orig) => timedRegexp("test", orig));
  for (const [sym, name] of [[Symbol.match, "[Symbol.match]"], [Symbol.replace, "[Symbol.replace]"],
    [Symbol.search, "[Symbol.search]"], [Symbol.split, "[Symbol.split]"]]) {
    replaceMethod(RegExp.prototype, sym, (orig) => timedRegexp(name, orig));
  }

  // JSON.stringify checks for cycles by scanning the path it is on, so a
  // deeply nested value costs it time quadratic in the depth, in one
  // native step the CPU limit cannot stop (depth 100,000: half a minute).
  // The depth is checked first, in Go, in time linear in the size.
  const stringify = JSON.stringify;
  function stringify_(value, replacer, space) {
    if (typeof value === "object" && value !== null) native.checkDepth(value);
    return stringify(value, replacer, space);
  }
  Object.defineProperty(JSON, "stringify", { value: stringify_, writable: true, configurable: true, enumerable: false });

  // JSON.parse recurses on the goroutine's stack once per level of
  // nesting (a MiB of "[" took half a GiB of stack), so the nesting and
  // the length are checked first, in Go.
  const jsonParse = JSON.parse;
  const parseJSON = ({
    parse(text, reviver) {
      const s = String(text);
      guardString("JSON.parse", s.length);
      native.checkJSONDepth(s);
      return jsonParse(s, reviver);
    },
  }).parse;
  Object.defineProperty(JSON, "parse", { value: parseJSON, writable: true, configurable: true, enumerable: false });

  // replace and replaceAll build their result in one step, which a short
  // replacement repeated over a long string makes huge (a 2 GB result
  // stalled a node until it lost leadership). A replacement function's
  // results are counted as they come; a replacement string bounds the
  // result by the matches' count and length, counted only when a quick
  // bound does not already fit.
  // dollarRefs counts a replacement's $&, $n and $<name> (each a match
  // or less), its $` and $' (each the string or less) and the length of
  // the rest.
  function dollarRefs(r) {
    let refs = 0, edges = 0, lit = r.length;
    for (let i = r.indexOf("$"); i >= 0 && i < r.length - 1; i = r.indexOf("$", i + 1)) {
      const c = r[i + 1];
      if (c === "`" || c === "'") {
        edges++;
        lit -= 2;
      } else if (c === "&" || (c >= "0" && c <= "9")) {
        refs++;
        lit -= 2;
      } else if (c === "<") {
        refs++;
      } else if (c === "$") {
        lit--;
        i++;
      }
    }
    return [lit, refs, edges];
  }
  const stringMatch = String.prototype.match;
  function guardReplace(name, s, pattern, r, all) {
    const [lit, refs, edges] = dollarRefs(r);
    if (s.length + (s.length + 1) * (lit + edges * s.length) + refs * s.length <= maxStringLength) return;
    let n = 0, matched = 0;
    if (pattern instanceof RegExp) {
      const ms = pattern.global ? stringMatch.call(s, pattern) : [s]; // one match, at most s
      n = ms ? ms.length : 0;
      matched = n ? ms.join("").length : 0;
    } else if (pattern !== null && pattern !== undefined && typeof pattern[Symbol.replace] === "function") {
      return; // a class's own matcher: its JavaScript builds the result
    } else {
      const p = String(pattern);
      n = p === "" ? (all ? s.length + 1 : 1) : all ? native.countIn(s, p) : (s.indexOf(p) >= 0 ? 1 : 0);
      matched = n * p.length;
    }
    guardString(name, s.length - matched + n * lit + refs * matched + edges * n * s.length);
  }
  for (const name of ["replace", "replaceAll"]) {
    replaceMethod(String.prototype, name, (orig) => ({
      [name](pattern, replacement) {
        if (this === null || this === undefined) return orig.call(this, pattern, replacement);
        const s = String(this);
        if (typeof replacement === "function") {
          const fn = replacement;
          let total = s.length;
          return orig.call(s, pattern, function (...args) {
            const r = String(fn.apply(undefined, args));
            total += r.length;
            guardString(name, total);
            return r;
          });
        }
        const r = String(replacement);
        guardReplace(name, s, pattern, r, name === "replaceAll");
        return orig.call(s, pattern, r);
      },
    })[name]);
  }
  replaceMethod(String.prototype, "concat", (orig) => ({
    concat(...args) {
      const s = String(this);
      let n = s.length;
      for (let i = 0; i < args.length; i++) {
        args[i] = String(args[i]);
        n += args[i].length;
      }
      guardString("concat", n);
      return orig.apply(s, args);
    },
  }).concat);
  // Built-ins the per-call paths below use, taken once: a global lookup
  // on every call costs map lookups in memory that is usually cold (and
  // a class that replaces a global does not change Response.json).
  const objectCreate = Object.create, isInteger = Number.isInteger, isArray = Array.isArray;

  function define(name, value) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // ---- bytes ----
  function toBytesView(b) {
    if (b instanceof ArrayBuffer) return new Uint8Array(b);
    if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return null;
  }
  function decodeUTF8(b) {
    const v = toBytesView(b);
    if (v === null) throw new TypeError("expected an ArrayBuffer or a typed array");
    return native.decodeUTF8(v.buffer, v.byteOffset, v.byteLength);
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s) { return new Uint8Array(native.encodeUTF8(s === undefined ? "" : String(s))); }
  }
  class TextDecoder {
    constructor(label) {
      const l = label === undefined ? "utf-8" : String(label).trim().toLowerCase();
      if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") {
        throw new RangeError(`TextDecoder: unsupported encoding ${label}`);
      }
    }
    get encoding() { return "utf-8"; }
    decode(b) { return b === undefined ? "" : decodeUTF8(b); }
  }
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("atob", (s) => native.atob(String(s)));
  define("btoa", (s) => native.btoa(String(s)));

  // ---- Headers ----
  // Header names are checked once each and remembered: they recur on
  // every request and response, and a check costs a loop over the name.
  const tokenChars = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") tokenChars[c.charCodeAt(0)] = 1;
  const checkedNames = new Map(); // name as given → its lower case
  function headerName(n) {
    const given = typeof n === "string" ? n : String(n);
    const known = checkedNames.get(given);
    if (known !== undefined) return known;
    const s = given.toLowerCase();
    if (s.length === 0) throw new TypeError("invalid header name \"\"");
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128 || tokenChars[c] === 0) throw new TypeError(`invalid header name ${JSON.stringify(s)}`);
    }
    if (checkedNames.size < 256) checkedNames.set(given, s);
    return s;
  }
  const needsValueWork = /^[\t\n\r ]|[\t\n\r ]$|[\0\r\n]/;
  function headerValue(v) {
    const s = typeof v === "string" ? v : String(v);
    if (!needsValueWork.test(s)) return s;
    const t = s.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\r\n]/.test(t)) throw new TypeError("invalid header value");
    return t;
  }
  class Headers {
    constructor(init) {
      this._m = new Map();
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init._m) this._m.set(k, v);
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("Headers: each pair must have two items");
          this.append(p[0], p[1]);
        }
      } else if (typeof init === "object") {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      } else {
        throw new TypeError("Headers: init must be an object, an array of pairs or Headers");
      }
    }
    append(k, v) {
      k = headerName(k); v = headerValue(v);
      const cur = this._m.get(k);
      this._m.set(k, cur === undefined ? v : (k === "set-cookie" ? cur + "\n" + v : cur + ", " + v));
    }
    set(k, v) { this._m.set(headerName(k), headerValue(v)); }
    get(k) {
      const v = this._m.get(headerName(k));
      if (v === undefined) return null;
      return v.replace(/\n/g, ", ");
    }
    getSetCookie() {
      const v = this._m.get("set-cookie");
      return v === undefined ? [] : v.split("\n");
    }
    has(k) { return this._m.has(headerName(k)); }
    delete(k) { this._m.delete(headerName(k)); }
    forEach(cb, thisArg) { for (const [k, v] of this) cb.call(thisArg, v, k, this); }
    *entries() {
      for (const k of Array.from(this._m.keys()).sort()) yield [k, this.get(k)];
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "Headers"; }
  }
  define("Headers", Headers);

  // ---- URLSearchParams and URL ----
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

  // ---- Request and Response ----
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
      this._body = init.body !== undefined ? bodyInit(init.body) : src ? src._body : null;
      if (this._body !== null && (this.method === "GET" || this.method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have a body");
      }
      if (init.body !== undefined) defaultContentType(init.body, this.headers);
      this._used = false;
      this.signal = init.signal !== undefined ? init.signal : src ? src.signal : null;
    }
    clone() {
      if (this._used) throw new TypeError("Body has already been used");
      return new Request(this);
    }
    get [Symbol.toStringTag]() { return "Request"; }
  }
  // Defaults the objects the engine makes (and Response.json) leave to
  // their prototypes: fewer own properties to create on each call.
  function protoDefault(proto, k, value) {
    Object.defineProperty(proto, k, { value, writable: true, configurable: true, enumerable: false });
  }
  protoDefault(Body.prototype, "_headers", null);
  protoDefault(Body.prototype, "_used", false);
  protoDefault(Request.prototype, "signal", null);
  define("Request", Request);

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
      this._body = bodyInit(body);
      if (this._body !== null && nullBodyStatus(status)) {
        throw new TypeError(`Response with status ${status} cannot have a body`);
      }
      defaultContentType(body, this.headers);
      this._used = false;
    }
    get ok() { return this.status >= 200 && this.status <= 299; }
    get redirected() { return false; }
    get type() { return "default"; }
    get url() { return ""; }
    clone() {
      if (this._used) throw new TypeError("Body has already been used");
      const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
      r._body = this._body;
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

  // ---- crypto, console, timers, structuredClone, queueMicrotask ----
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

  function show(v) {
    if (typeof v === "string") return v;
    if (v instanceof Error) return v.stack || String(v);
    if (v instanceof Map) return "Map(" + v.size + ") " + show(Object.fromEntries(v));
    if (typeof v === "object" && v !== null) {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }
  function logger(level) {
    return (...args) => native.log(level, args.map(show).join(" "));
  }
  define("console", Object.freeze({
    log: logger("info"), info: logger("info"), debug: logger("debug"),
    warn: logger("warn"), error: logger("error"), trace: logger("debug"),
  }));

  // Timers run while the call awaits them; those still pending when the
  // call settles are dropped.
  define("setTimeout", (fn, ms, ...args) => {
    if (typeof fn !== "function") throw new TypeError("setTimeout: the callback must be a function");
    return native.setTimeout(fn, Number(ms) || 0, args, false);
  });
  define("setInterval", (fn, ms, ...args) => {
    if (typeof fn !== "function") throw new TypeError("setInterval: the callback must be a function");
    return native.setTimeout(fn, Number(ms) || 0, args, true);
  });
  const clearTimer = (id) => { if (id !== undefined && id !== null) native.clearTimeout(Number(id)); };
  define("clearTimeout", clearTimer);
  define("clearInterval", clearTimer);
  const timeOrigin = Date.now();
  define("performance", Object.freeze({ timeOrigin, now: () => native.monotonicMs() }));
  define("structuredClone", (v) => native.clone(v));
  define("queueMicrotask", (fn) => { Promise.resolve().then(() => fn()); });

  // ---- the Durable Object context ----
  function key(k) {
    if (typeof k !== "string") throw new TypeError("storage keys must be strings, got " + typeof k);
    return k;
  }
  function keys(ks) { return Array.from(ks, key); }
  // Storage methods return promises, as Cloudflare's do, though the
  // work is done at once: Promise.resolve costs less than new Promise.
  const P = Promise;
  function storageOps(check) {
    return {
      get(k, opts) {
        try {
          check();
          return P.resolve(isArray(k) ? native.getMany(keys(k)) : native.get(key(k)));
        } catch (e) { return P.reject(e); }
      },
      put(k, v, opts) {
        try {
          check();
          if (typeof k === "object" && k !== null) native.putMany(k); else native.put(key(k), v);
          return P.resolve();
        } catch (e) { return P.reject(e); }
      },
      delete(k, opts) {
        try {
          check();
          return P.resolve(isArray(k) ? native.deleteMany(keys(k)) : native.delete(key(k)));
        } catch (e) { return P.reject(e); }
      },
      list(o) {
        try {
          check();
          return P.resolve(native.list(o === undefined || o === null ? {} : o));
        } catch (e) { return P.reject(e); }
      },
      getAlarm(opts) {
        try { check(); return P.resolve(native.getAlarm()); } catch (e) { return P.reject(e); }
      },
      setAlarm(t, opts) {
        try {
          check();
          native.setAlarm(t instanceof Date ? t.getTime() : t);
          return P.resolve();
        } catch (e) { return P.reject(e); }
      },
      deleteAlarm(opts) {
        try { check(); native.deleteAlarm(); return P.resolve(); } catch (e) { return P.reject(e); }
      },
    };
  }
  function makeStorage() {
    const s = storageOps(() => {});
    s.deleteAll = (opts) => { try { native.deleteAll(); return P.resolve(); } catch (e) { return P.reject(e); } };
    s.sync = () => Promise.resolve();
    s.transaction = async (fn) => {
      const token = native.txnBegin();
      let rolledBack = false;
      const txn = storageOps(() => { if (rolledBack) throw new Error("the transaction was rolled back"); });
      txn.rollback = () => {
        if (rolledBack) return;
        rolledBack = true;
        native.txnRollback(token);
      };
      try {
        const r = await fn(txn);
        if (!rolledBack) native.txnCommit(token);
        return r;
      } catch (e) {
        if (!rolledBack) native.txnRollback(token);
        throw e;
      }
    };
    s.transactionSync = (fn) => {
      const token = native.txnBegin();
      try {
        const r = fn();
        native.txnCommit(token);
        return r;
      } catch (e) {
        native.txnRollback(token);
        throw e;
      }
    };
    return Object.freeze(s);
  }

  function makeContext(name) {
    const id = Object.freeze({
      name,
      toString() { return name; },
      equals(o) { return o !== null && typeof o === "object" && o.name === name; },
    });
    return Object.freeze({
      id,
      storage: makeStorage(),
      blockConcurrencyWhile(fn) {
        const p = (async () => fn())();
        native.block(p);
        return p;
      },
      waitUntil(p) { native.waitUntil(Promise.resolve(p)); },
    });
  }

  // ---- hooks for the engine ----
  // responseParts is what the engine sends: [status, "name\0value\0…", body],
  // or null when r is not a Response.
  // Headers never read since Response.json made them are sent as they
  // are; otherwise the Map is joined (with a function made once, not a
  // closure a call).
  let joined = "";
  function joinHeader(v, k) { joined += k + "\0" + v + "\0"; }
  function responseParts(r) {
    if (!(r instanceof Response)) return null;
    const hs = r._headers;
    let h;
    if (hs === null && typeof r._hs === "string") {
      h = r._hs;
    } else {
      joined = "";
      r.headers._m.forEach(joinHeader);
      h = joined;
      joined = "";
    }
    return [r.status, h, r._body];
  }
  function isClass(v) {
    return typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));
  }
  const arrayFrom = Array.from;
  function mapEntries(m) { return arrayFrom(m); }
  function setValues(s) { return arrayFrom(s); }
  // construct is called through goja's Callable so that the promise jobs
  // the constructor queued run when it returns (Runtime.New does not).
  function construct(C, ctx, env) { return new C(ctx, env); }
  // requestProto: the engine builds the Request fetch gets itself (see
  // requestValue), on this prototype.
  return { makeContext, requestProto: Request.prototype, responseParts, isClass, mapEntries, setValues, construct };
})
