// Timing of the RegExp methods, against catastrophic backtracking (regexp.go).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
