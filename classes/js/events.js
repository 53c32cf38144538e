// Event, CustomEvent, EventTarget (the DOM's basics: no tree, so no
// capture or bubbling phases), AbortController and AbortSignal.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  class Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Event: 1 argument required, but only 0 present");
      init = init === undefined || init === null ? {} : init;
      this._type = `${type}`;
      this._bubbles = !!init.bubbles;
      this._cancelable = !!init.cancelable;
      this._composed = !!init.composed;
      this._canceled = false;
      this._stop = false;
      this._stopNow = false;
      this._passive = false;
      this._target = null;
      this._current = null;
      this._dispatching = false;
      this._timeStamp = native.monotonicMs();
      Object.defineProperty(this, "isTrusted", { value: false, enumerable: true });
    }
    get type() { return this._type; }
    get bubbles() { return this._bubbles; }
    get cancelable() { return this._cancelable; }
    get composed() { return this._composed; }
    get defaultPrevented() { return this._canceled; }
    get returnValue() { return !this._canceled; }
    set returnValue(v) { if (!v) this.preventDefault(); }
    get target() { return this._target; }
    get srcElement() { return this._target; }
    get currentTarget() { return this._current; }
    get eventPhase() { return this._current === null ? Event.NONE : Event.AT_TARGET; }
    get timeStamp() { return this._timeStamp; }
    get cancelBubble() { return this._stop; }
    set cancelBubble(v) { if (v) this._stop = true; }
    composedPath() { return this._current === null ? [] : [this._current]; }
    preventDefault() { if (this._cancelable && !this._passive) this._canceled = true; }
    stopPropagation() { this._stop = true; }
    stopImmediatePropagation() { this._stop = true; this._stopNow = true; }
    get [Symbol.toStringTag]() { return "Event"; }
  }
  for (const [k, v] of [["NONE", 0], ["CAPTURING_PHASE", 1], ["AT_TARGET", 2], ["BUBBLING_PHASE", 3]]) {
    Object.defineProperty(Event, k, { value: v, enumerable: true });
    Object.defineProperty(Event.prototype, k, { value: v, enumerable: true });
  }
  class CustomEvent extends Event {
    constructor(type, init) {
      super(type, init);
      this._detail = init === undefined || init === null || init.detail === undefined ? null : init.detail;
    }
    get detail() { return this._detail; }
    get [Symbol.toStringTag]() { return "CustomEvent"; }
  }

  // listenersOf is a target's listeners by event type, made on first use
  // (a subclass may never call EventTarget's constructor).
  function listenersOf(t) {
    if (t._listeners === undefined) {
      Object.defineProperty(t, "_listeners", { value: new Map(), writable: true, configurable: true, enumerable: false });
    }
    return t._listeners;
  }
  function flatten(options) {
    if (typeof options === "boolean") return { capture: options, once: false, passive: false, signal: undefined };
    const o = options === undefined || options === null ? {} : options;
    return { capture: !!o.capture, once: !!o.once, passive: !!o.passive, signal: o.signal };
  }
  function removeListener(t, type, l) {
    l.removed = true;
    const ls = listenersOf(t).get(type);
    if (ls === undefined) return;
    const i = ls.indexOf(l);
    if (i >= 0) ls.splice(i, 1);
  }
  function reportListenerError(ev, e) {
    native.log("error", `Uncaught (in ${ev.type} listener) ${e instanceof Error && e.stack ? e.stack : e}`);
  }
  // started collects, during dispatchAwaiting, the promises listeners
  // return; null otherwise.
  let started = null;
  // invoke calls one listener; what it throws is reported, as the DOM
  // reports it, and the other listeners still run.
  function invoke(t, l, ev) {
    ev._passive = l.passive;
    try {
      const cb = l.callback;
      let r;
      if (typeof cb === "function") {
        r = cb.call(t, ev);
      } else {
        const h = cb.handleEvent;
        if (typeof h !== "function") throw new TypeError("the listener's handleEvent is not a function");
        r = h.call(cb, ev);
      }
      if (started !== null && r !== null && typeof r === "object" && typeof r.then === "function") {
        started.push(Promise.resolve(r).catch((e) => reportListenerError(ev, e)));
      }
    } catch (e) {
      reportListenerError(ev, e);
    }
    ev._passive = false;
  }
  // dispatchAwaiting dispatches ev on t and returns a promise settled when
  // the promises its listeners returned have: the engine waits for a
  // socket's async listeners as for a handler (socketevents.go).
  function dispatchAwaiting(t, ev) {
    const outer = started;
    started = [];
    let mine;
    try { t.dispatchEvent(ev); } finally { mine = started; started = outer; }
    return Promise.all(mine);
  }
  class EventTarget {
    constructor() { listenersOf(this); }
    addEventListener(type, callback, options) {
      const o = flatten(options);
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function" && typeof callback !== "object") {
        throw new TypeError("addEventListener: the listener must be a function or an object");
      }
      if (o.signal !== undefined && o.signal.aborted) return;
      type = `${type}`;
      const all = listenersOf(this);
      let ls = all.get(type);
      if (ls === undefined) { ls = []; all.set(type, ls); }
      if (ls.some((l) => l.callback === callback && l.capture === o.capture)) return;
      const l = { callback, capture: o.capture, once: o.once, passive: o.passive, removed: false };
      ls.push(l);
      if (o.signal !== undefined) o.signal.addEventListener("abort", () => removeListener(this, type, l));
    }
    removeEventListener(type, callback, options) {
      const capture = flatten(options).capture;
      const ls = listenersOf(this).get(`${type}`);
      if (ls === undefined) return;
      const l = ls.find((x) => x.callback === callback && x.capture === capture);
      if (l !== undefined) removeListener(this, `${type}`, l);
    }
    dispatchEvent(ev) {
      if (!(ev instanceof Event)) throw new TypeError("dispatchEvent: the argument is not an Event");
      if (ev._dispatching) throw new DOMException("the event is already being dispatched", "InvalidStateError");
      ev._dispatching = true;
      ev._target = this;
      ev._current = this;
      const ls = listenersOf(this).get(ev._type);
      if (ls !== undefined) {
        for (const l of ls.slice()) {
          if (l.removed) continue;
          if (l.once) removeListener(this, ev._type, l);
          invoke(this, l, ev);
          if (ev._stopNow) break;
        }
      }
      ev._current = null;
      ev._dispatching = false;
      ev._stop = false;
      ev._stopNow = false;
      return !ev._canceled;
    }
    get [Symbol.toStringTag]() { return "EventTarget"; }
  }

  class AbortSignal extends EventTarget {
    constructor() { throw new TypeError("Illegal constructor"); }
    get aborted() { return this._aborted === true; }
    get reason() { return this._reason; }
    throwIfAborted() { if (this._aborted === true) throw this._reason; }
    get onabort() { return this._onabort === undefined ? null : this._onabort; }
    set onabort(f) {
      if (this._onabort === undefined) this.addEventListener("abort", (ev) => { if (typeof this._onabort === "function") this._onabort.call(this, ev); });
      this._onabort = f;
    }
    static abort(reason) { const s = newSignal(); signalAbort(s, reason); return s; }
    static timeout(ms) {
      const s = newSignal();
      native.setTimeout(() => signalAbort(s, new DOMException("The operation timed out", "TimeoutError")), Number(ms) || 0, [], false);
      return s;
    }
    static any(signals) {
      const s = newSignal();
      const list = Array.from(signals);
      const done = list.find((x) => x.aborted);
      if (done !== undefined) { signalAbort(s, done.reason); return s; }
      for (const x of list) x.addEventListener("abort", () => signalAbort(s, x.reason));
      return s;
    }
    get [Symbol.toStringTag]() { return "AbortSignal"; }
  }
  function newSignal() {
    const s = objectCreate(AbortSignal.prototype);
    listenersOf(s);
    s._aborted = false;
    s._reason = undefined;
    return s;
  }
  function signalAbort(s, reason) {
    if (s._aborted) return;
    s._aborted = true;
    s._reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    s.dispatchEvent(new Event("abort"));
  }
  class AbortController {
    constructor() { this._signal = newSignal(); }
    get signal() { return this._signal; }
    abort(reason) { signalAbort(this._signal, reason); }
    get [Symbol.toStringTag]() { return "AbortController"; }
  }
  define("Event", Event);
  define("CustomEvent", CustomEvent);
  define("EventTarget", EventTarget);
  define("AbortSignal", AbortSignal);
  define("AbortController", AbortController);
