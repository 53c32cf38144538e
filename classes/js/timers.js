// setTimeout, setInterval, their clears, performance, queueMicrotask
// and scheduler.wait.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
  define("queueMicrotask", (fn) => { Promise.resolve().then(() => fn()); });
  // scheduler.wait is Cloudflare's promise of a timer: await
  // scheduler.wait(ms) is setTimeout as a promise.
  define("scheduler", Object.freeze({
    wait(ms) { return new Promise((resolve) => { setTimeout(resolve, Number(ms) || 0); }); },
  }));
