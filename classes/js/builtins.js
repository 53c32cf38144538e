// Bounds on the built-ins that turn a small input into a large allocation in one step.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
