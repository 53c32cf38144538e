// Bounds on String.prototype.replace, replaceAll and concat.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
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
