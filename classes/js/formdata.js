// FormData, with multipart/form-data's serialization (new Response(fd))
// and parsing (request.formData(): formdata.go).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // entryValue is an entry's value: a string, or a File (a Blob becomes
  // a File named filename, or "blob").
  function entryValue(value, filename) {
    if (!(value instanceof Blob)) return `${value}`;
    if (filename === undefined && value instanceof File) return value;
    const f = new File([value], filename === undefined ? (value instanceof File ? value.name : "blob") : `${filename}`,
      { type: value.type, lastModified: value instanceof File ? value.lastModified : undefined });
    return f;
  }
  function needArgs(what, n, got) {
    if (got < n) throw new TypeError(`FormData.${what}: ${n} argument${n > 1 ? "s" : ""} required, but only ${got} present`);
  }
  class FormData {
    constructor(form) {
      if (form !== undefined) throw new TypeError("FormData: there are no form elements to read");
      this._entries = [];
    }
    append(name, value, filename) { needArgs("append", 2, arguments.length); this._entries.push([`${name}`, entryValue(value, filename)]); }
    set(name, value, filename) {
      needArgs("set", 2, arguments.length);
      name = `${name}`;
      const v = entryValue(value, filename);
      const i = this._entries.findIndex((e) => e[0] === name);
      if (i < 0) { this._entries.push([name, v]); return; }
      this._entries[i] = [name, v];
      this._entries = this._entries.filter((e, j) => j <= i || e[0] !== name);
    }
    get(name) { needArgs("get", 1, arguments.length); name = `${name}`; const e = this._entries.find((x) => x[0] === name); return e === undefined ? null : e[1]; }
    getAll(name) { needArgs("getAll", 1, arguments.length); name = `${name}`; return this._entries.filter((x) => x[0] === name).map((x) => x[1]); }
    has(name) { needArgs("has", 1, arguments.length); name = `${name}`; return this._entries.some((x) => x[0] === name); }
    delete(name) { needArgs("delete", 1, arguments.length); name = `${name}`; this._entries = this._entries.filter((x) => x[0] !== name); }
    forEach(fn, thisArg) { for (const [k, v] of this._entries.slice()) fn.call(thisArg, v, k, this); }
    *entries() { for (const [k, v] of this._entries.slice()) yield [k, v]; }
    *keys() { for (const [k] of this._entries.slice()) yield k; }
    *values() { for (const [, v] of this._entries.slice()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "FormData"; }
  }
  // multipartName escapes a name or filename as HTML's form submission
  // does: CR, LF and " become %0D, %0A and %22.
  function multipartName(s) { return s.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22"); }
  // multipartBody serializes fd as multipart/form-data: [content type,
  // body as an ArrayBuffer].
  function multipartBody(fd) {
    const boundary = "----formdata-dobj-" + Array.from(new Uint8Array(native.randomBytes(12)), (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
    const parts = [];
    for (const [name, v] of fd._entries) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${multipartName(name)}"`;
      if (v instanceof File) {
        head += `; filename="${multipartName(v.name)}"\r\nContent-Type: ${v.type || "application/octet-stream"}\r\n\r\n`;
        parts.push(head, v, "\r\n");
      } else {
        parts.push(head + "\r\n\r\n" + v.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n") + "\r\n");
      }
    }
    parts.push(`--${boundary}--\r\n`);
    return ["multipart/form-data; boundary=" + boundary, blobBytes(parts).buffer];
  }
  // parseFormData is body.formData(): a FormData of a urlencoded or a
  // multipart/form-data body, by its Content-Type.
  function parseFormData(contentType, b) {
    const ct = contentType === null ? "" : contentType;
    const essence = ct.split(";")[0].trim().toLowerCase();
    const fd = new FormData();
    const bytes = b === null ? new Uint8Array(0) : typeof b === "string" ? new Uint8Array(native.encodeUTF8(b)) : new Uint8Array(b);
    if (essence === "application/x-www-form-urlencoded") {
      for (const [k, v] of new URLSearchParams(decodeUTF8(bytes))) fd.append(k, v);
      return fd;
    }
    if (essence !== "multipart/form-data") throw new TypeError(`formData: the Content-Type ${JSON.stringify(ct)} is not a form's`);
    const m = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(ct);
    const boundary = m === null ? "" : m[1] !== undefined ? m[1] : m[2];
    if (boundary === "") throw new TypeError("formData: the multipart/form-data Content-Type has no boundary");
    for (const [name, filename, type, data] of native.parseMultipart(bytes.buffer, bytes.byteOffset, bytes.byteLength, boundary)) {
      if (filename === null) fd.append(name, decodeUTF8(data));
      else fd.append(name, new File([data], filename, { type }));
    }
    return fd;
  }
  define("FormData", FormData);
