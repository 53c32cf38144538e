// TextEncoder, TextDecoder, atob and btoa.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
  // atob and btoa take one DOMString argument, as WebIDL converts it.
  define("atob", function atob(s) {
    if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present");
    const r = native.atob(`${s}`);
    if (r === null) throw new DOMException("atob: the string to be decoded is not correctly encoded", "InvalidCharacterError");
    return r;
  });
  define("btoa", function btoa(s) {
    if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present");
    const r = native.btoa(`${s}`);
    if (r === null) throw new DOMException("btoa: the string has characters outside Latin-1", "InvalidCharacterError");
    return r;
  });
