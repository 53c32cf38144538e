// Headers.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
