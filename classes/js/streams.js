// ReadableStream, WritableStream, TransformStream and their readers,
// writers and controllers: the default (not byte) streams of the WHATWG
// Streams standard, without queuing strategies' backpressure on writers.
// Bodies are still whole underneath (body.js): a stream body is read to
// its end before it is sent.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // goja has no Symbol.asyncIterator; the one esbuild's lowered for await
  // looks for is Symbol.for("Symbol.asyncIterator"), so that is it.
  if (Symbol.asyncIterator === undefined) {
    Object.defineProperty(Symbol, "asyncIterator", { value: Symbol.for("Symbol.asyncIterator") });
  }
  const asyncIteratorSymbol = Symbol.asyncIterator;
  function deferred() {
    const d = {};
    d.promise = new Promise((resolve, reject) => { d.resolve = resolve; d.reject = reject; });
    return d;
  }
  function noop() {}

  class ReadableStreamDefaultController {
    constructor() { throw new TypeError("Illegal constructor"); }
    get desiredSize() {
      const s = this._stream;
      return s._state === "errored" ? null : s._state === "closed" ? 0 : s._hwm - s._queue.length;
    }
    enqueue(chunk) {
      const s = this._stream;
      if (s._closeRequested || s._state !== "readable") throw new TypeError("enqueue: the stream is closed or errored");
      const r = s._reads.shift();
      if (r !== undefined) r.resolve({ value: chunk, done: false });
      else s._queue.push(chunk);
      pullIfNeeded(s);
    }
    close() {
      const s = this._stream;
      if (s._closeRequested || s._state !== "readable") throw new TypeError("close: the stream is closed or errored");
      s._closeRequested = true;
      if (s._queue.length === 0) closeStream(s);
    }
    error(e) { errorStream(this._stream, e); }
    get [Symbol.toStringTag]() { return "ReadableStreamDefaultController"; }
  }
  function closeStream(s) {
    if (s._state !== "readable") return;
    s._state = "closed";
    for (const r of s._reads.splice(0)) r.resolve({ value: undefined, done: true });
    if (s._reader !== null) s._reader._closed.resolve();
  }
  function errorStream(s, e) {
    if (s._state !== "readable") return;
    s._state = "errored";
    s._error = e;
    s._queue = [];
    for (const r of s._reads.splice(0)) r.reject(e);
    if (s._reader !== null) { s._reader._closed.reject(e); s._reader._closed.promise.catch(noop); }
  }
  function pullIfNeeded(s) {
    if (!s._started || s._state !== "readable" || s._closeRequested || typeof s._source.pull !== "function") return;
    if (s._reads.length === 0 && s._hwm - s._queue.length <= 0) return;
    if (s._pulling) { s._pullAgain = true; return; }
    s._pulling = true;
    let p;
    try { p = Promise.resolve(s._source.pull(s._controller)); } catch (e) { p = Promise.reject(e); }
    p.then(() => {
      s._pulling = false;
      if (s._pullAgain) { s._pullAgain = false; pullIfNeeded(s); }
    }, (e) => errorStream(s, e));
  }
  function cancelStream(s, reason) {
    s._disturbed = true;
    if (s._state === "closed") return Promise.resolve();
    if (s._state === "errored") return Promise.reject(s._error);
    s._queue = [];
    closeStream(s);
    try {
      return Promise.resolve(typeof s._source.cancel === "function" ? s._source.cancel(reason) : undefined).then(noop);
    } catch (e) { return Promise.reject(e); }
  }

  class ReadableStream {
    constructor(source, strategy) {
      source = source === undefined || source === null ? {} : source;
      const hwm = strategy !== undefined && strategy !== null && strategy.highWaterMark !== undefined ? Number(strategy.highWaterMark) : 1;
      if (Number.isNaN(hwm) || hwm < 0) throw new RangeError("highWaterMark must be a non-negative number");
      Object.assign(this, {
        _source: source, _hwm: hwm, _queue: [], _reads: [], _reader: null, _state: "readable", _error: undefined,
        _started: false, _pulling: false, _pullAgain: false, _closeRequested: false, _disturbed: false,
      });
      const c = objectCreate(ReadableStreamDefaultController.prototype);
      c._stream = this;
      this._controller = c;
      const started = typeof source.start === "function" ? source.start(c) : undefined;
      Promise.resolve(started).then(() => { this._started = true; pullIfNeeded(this); }, (e) => errorStream(this, e));
    }
    get locked() { return this._reader !== null; }
    cancel(reason) {
      if (this._reader !== null) return Promise.reject(new TypeError("cancel: the stream is locked to a reader"));
      return cancelStream(this, reason);
    }
    getReader(options) {
      if (options !== undefined && options !== null && options.mode !== undefined) {
        throw new TypeError(`getReader: mode ${options.mode} is not supported (only the default reader)`);
      }
      return new ReadableStreamDefaultReader(this);
    }
    values(options) {
      const reader = this.getReader();
      const preventCancel = options !== undefined && options !== null && !!options.preventCancel;
      return {
        next() {
          return reader.read().then((r) => { if (r.done) reader.releaseLock(); return r; });
        },
        return(value) {
          const p = preventCancel || reader._stream === null ? Promise.resolve() : reader.cancel(value);
          return p.then(() => { if (reader._stream !== null) reader.releaseLock(); return { value, done: true }; });
        },
        [asyncIteratorSymbol]() { return this; },
      };
    }
    [asyncIteratorSymbol](options) { return this.values(options); }
    tee() {
      const reader = this.getReader();
      let reading = false, c1, c2;
      const canceled = [false, false];
      const pull = () => {
        if (reading) return;
        reading = true;
        return reader.read().then((r) => {
          reading = false;
          if (r.done) { if (!canceled[0]) c1.close(); if (!canceled[1]) c2.close(); return; }
          if (!canceled[0]) c1.enqueue(r.value);
          if (!canceled[1]) c2.enqueue(r.value);
        }, (e) => { c1.error(e); c2.error(e); });
      };
      const branch = (i) => new ReadableStream({
        start(c) { if (i === 0) c1 = c; else c2 = c; },
        pull,
        cancel(reason) { canceled[i] = true; if (canceled[1 - i]) return reader.cancel(reason); },
      });
      return [branch(0), branch(1)];
    }
    pipeTo(dest, options) {
      const o = options === undefined || options === null ? {} : options;
      let reader, writer;
      try { reader = this.getReader(); writer = dest.getWriter(); } catch (e) { return Promise.reject(e); }
      const step = () => reader.read().then((r) => {
        if (r.done) return o.preventClose ? undefined : writer.close();
        return writer.write(r.value).then(step);
      });
      return step().then(() => { reader.releaseLock(); writer.releaseLock(); }, (e) => {
        if (!o.preventAbort) writer.abort(e).catch(noop);
        if (!o.preventCancel) reader.cancel(e).catch(noop);
        throw e;
      });
    }
    pipeThrough(transform, options) {
      this.pipeTo(transform.writable, options).catch(noop);
      return transform.readable;
    }
    static from(iterable) {
      const asyncIt = iterable[asyncIteratorSymbol];
      const it = typeof asyncIt === "function" ? asyncIt.call(iterable) : iterable[Symbol.iterator]();
      return new ReadableStream({
        pull(c) {
          return Promise.resolve(it.next()).then((r) => { if (r.done) c.close(); else c.enqueue(r.value); });
        },
        cancel(reason) { if (typeof it.return === "function") return it.return(reason); },
      });
    }
    get [Symbol.toStringTag]() { return "ReadableStream"; }
  }

  class ReadableStreamDefaultReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamDefaultReader: not a ReadableStream");
      if (stream._reader !== null) throw new TypeError("getReader: the stream is locked to a reader already");
      this._stream = stream;
      this._closed = deferred();
      stream._reader = this;
      if (stream._state === "closed") this._closed.resolve();
      if (stream._state === "errored") { this._closed.reject(stream._error); this._closed.promise.catch(noop); }
    }
    get closed() { return this._closed.promise; }
    read() {
      const s = this._stream;
      if (s === null) return Promise.reject(new TypeError("read: the reader was released"));
      s._disturbed = true;
      if (s._state === "errored") return Promise.reject(s._error);
      if (s._queue.length > 0) {
        const value = s._queue.shift();
        if (s._closeRequested && s._queue.length === 0) closeStream(s);
        else pullIfNeeded(s);
        return Promise.resolve({ value, done: false });
      }
      if (s._state === "closed") return Promise.resolve({ value: undefined, done: true });
      const d = deferred();
      s._reads.push(d);
      pullIfNeeded(s);
      return d.promise;
    }
    cancel(reason) {
      if (this._stream === null) return Promise.reject(new TypeError("cancel: the reader was released"));
      return cancelStream(this._stream, reason);
    }
    releaseLock() {
      const s = this._stream;
      if (s === null) return;
      const e = new TypeError("the reader was released");
      for (const r of s._reads.splice(0)) r.reject(e);
      if (s._state === "readable") this._closed.reject(e);
      this._closed = deferred();
      this._closed.reject(e);
      this._closed.promise.catch(noop);
      s._reader = null;
      this._stream = null;
    }
    get [Symbol.toStringTag]() { return "ReadableStreamDefaultReader"; }
  }

  class WritableStreamDefaultController {
    constructor() { throw new TypeError("Illegal constructor"); }
    error(e) { writableError(this._stream, e); }
    get signal() { return this._stream._abort.signal; }
    get [Symbol.toStringTag]() { return "WritableStreamDefaultController"; }
  }
  function writableError(s, e) {
    if (s._state === "errored" || s._state === "closed") return;
    s._state = "errored";
    s._error = e;
    s._closed.reject(e);
    s._closed.promise.catch(noop);
  }
  // sinkCall chains a call of the sink's method after the writes before
  // it; the sink sees one write at a time, in order.
  function sinkCall(s, name, arg) {
    const run = () => {
      if (s._state === "errored") throw s._error;
      const f = s._sink[name];
      return typeof f === "function" ? (name === "write" ? f.call(s._sink, arg, s._controller) : f.call(s._sink, arg)) : undefined;
    };
    const p = s._last.then(run);
    s._last = p.catch((e) => { writableError(s, e); });
    return p.then(noop);
  }
  class WritableStream {
    constructor(sink) {
      sink = sink === undefined || sink === null ? {} : sink;
      this._sink = sink;
      this._state = "writable";
      this._error = undefined;
      this._writer = null;
      this._closed = deferred();
      this._abort = new AbortController();
      const c = objectCreate(WritableStreamDefaultController.prototype);
      c._stream = this;
      this._controller = c;
      let started;
      try { started = Promise.resolve(typeof sink.start === "function" ? sink.start(c) : undefined); } catch (e) { started = Promise.reject(e); }
      this._last = started.catch((e) => { writableError(this, e); });
    }
    get locked() { return this._writer !== null; }
    getWriter() { return new WritableStreamDefaultWriter(this); }
    close() {
      if (this._writer !== null) return Promise.reject(new TypeError("close: the stream is locked to a writer"));
      return writableClose(this);
    }
    abort(reason) {
      if (this._writer !== null) return Promise.reject(new TypeError("abort: the stream is locked to a writer"));
      return writableAbort(this, reason);
    }
    get [Symbol.toStringTag]() { return "WritableStream"; }
  }
  function writableClose(s) {
    if (s._state !== "writable") return Promise.reject(new TypeError("close: the stream is closed or errored"));
    s._state = "closing";
    return sinkCall(s, "close").then(() => { s._state = "closed"; s._closed.resolve(); });
  }
  function writableAbort(s, reason) {
    if (s._state === "closed" || s._state === "errored") return Promise.resolve();
    const e = reason === undefined ? new DOMException("the stream was aborted", "AbortError") : reason;
    writableError(s, e);
    s._abort.abort(e);
    try {
      return Promise.resolve(typeof s._sink.abort === "function" ? s._sink.abort(reason) : undefined).then(noop);
    } catch (err) { return Promise.reject(err); }
  }
  class WritableStreamDefaultWriter {
    constructor(stream) {
      if (!(stream instanceof WritableStream)) throw new TypeError("WritableStreamDefaultWriter: not a WritableStream");
      if (stream._writer !== null) throw new TypeError("getWriter: the stream is locked to a writer already");
      this._stream = stream;
      stream._writer = this;
    }
    get closed() { return this._stream === null ? Promise.reject(new TypeError("the writer was released")) : this._stream._closed.promise; }
    get ready() { return Promise.resolve(); }
    get desiredSize() { return this._stream === null ? null : this._stream._state === "errored" ? null : 1; }
    write(chunk) {
      const s = this._stream;
      if (s === null) return Promise.reject(new TypeError("write: the writer was released"));
      if (s._state === "errored") return Promise.reject(s._error);
      if (s._state !== "writable") return Promise.reject(new TypeError("write: the stream is closing or closed"));
      return sinkCall(s, "write", chunk);
    }
    close() { return this._stream === null ? Promise.reject(new TypeError("close: the writer was released")) : writableClose(this._stream); }
    abort(reason) { return this._stream === null ? Promise.reject(new TypeError("abort: the writer was released")) : writableAbort(this._stream, reason); }
    releaseLock() { if (this._stream !== null) { this._stream._writer = null; this._stream = null; } }
    get [Symbol.toStringTag]() { return "WritableStreamDefaultWriter"; }
  }

  class TransformStreamDefaultController {
    constructor() { throw new TypeError("Illegal constructor"); }
    get desiredSize() { return this._readable.desiredSize; }
    enqueue(chunk) { this._readable.enqueue(chunk); }
    error(e) { this._readable.error(e); writableError(this._writable, e); }
    terminate() { try { this._readable.close(); } catch (e) { /* closed already */ } }
    get [Symbol.toStringTag]() { return "TransformStreamDefaultController"; }
  }
  class TransformStream {
    constructor(transformer) {
      const t = transformer === undefined || transformer === null ? {} : transformer;
      const tc = objectCreate(TransformStreamDefaultController.prototype);
      this._readable = new ReadableStream({ start(c) { tc._readable = c; }, cancel(reason) { writableError(tc._writable, reason); } }, { highWaterMark: 0 });
      this._writable = new WritableStream({
        start(c) { tc._writable = c._stream; return typeof t.start === "function" ? t.start(tc) : undefined; },
        write(chunk) { return typeof t.transform === "function" ? t.transform(chunk, tc) : tc.enqueue(chunk); },
        close() {
          return Promise.resolve(typeof t.flush === "function" ? t.flush(tc) : undefined).then(() => tc.terminate());
        },
        abort(reason) { tc._readable.error(reason); },
      });
    }
    get readable() { return this._readable; }
    get writable() { return this._writable; }
    get [Symbol.toStringTag]() { return "TransformStream"; }
  }
  // IdentityTransformStream is Cloudflare's TransformStream without a
  // transformer.
  class IdentityTransformStream extends TransformStream {
    constructor() { super(); }
  }

  // bodyLimit bounds a stream body read whole: the response limit.
  const bodyLimit = native.bodyLimit();
  // readAll reads a stream to its end as one ArrayBuffer of at most
  // limit bytes (native.tooLarge throws past it). Chunks are bytes
  // (ArrayBuffers or views) or strings, taken as UTF-8.
  function readAll(stream, limit, what) {
    const reader = stream.getReader();
    const chunks = [];
    let total = 0;
    const step = () => reader.read().then((r) => {
      if (r.done) return;
      let v = r.value;
      if (typeof v === "string") v = new Uint8Array(native.encodeUTF8(v));
      else v = toBytesView(v);
      if (v === null) throw new TypeError(`${what}: a stream chunk must be an ArrayBuffer, a view of one or a string`);
      total += v.byteLength;
      if (total > limit) { reader.cancel().catch(noop); native.tooLarge(what, total); }
      chunks.push(v.slice());
      return step();
    });
    return step().then(() => {
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) { out.set(c, at); at += c.byteLength; }
      return out.buffer;
    });
  }
  // bytesStream is a stream of one chunk, b's bytes.
  function bytesStream(b) {
    return new ReadableStream({
      start(c) {
        if (b !== null) c.enqueue(new Uint8Array(typeof b === "string" ? native.encodeUTF8(b) : b.slice(0)));
        c.close();
      },
    });
  }
  define("ReadableStream", ReadableStream);
  define("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  define("ReadableStreamDefaultController", ReadableStreamDefaultController);
  define("WritableStream", WritableStream);
  define("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
  define("WritableStreamDefaultController", WritableStreamDefaultController);
  define("TransformStream", TransformStream);
  define("TransformStreamDefaultController", TransformStreamDefaultController);
  define("IdentityTransformStream", IdentityTransformStream);
