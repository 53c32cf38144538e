// console, to the engine's logger.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
