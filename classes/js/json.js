// Bounds on JSON.stringify and JSON.parse.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // JSON.stringify checks for cycles by scanning the path it is on, so a
  // deeply nested value costs it time quadratic in the depth, in one
  // native step the CPU limit cannot stop (depth 100,000: half a minute).
  // The depth is checked first, in Go, in time linear in the size.
  const stringify = JSON.stringify;
  function stringify_(value, replacer, space) {
    if (typeof value === "object" && value !== null) native.checkDepth(value);
    return stringify(value, replacer, space);
  }
  Object.defineProperty(JSON, "stringify", { value: stringify_, writable: true, configurable: true, enumerable: false });

  // JSON.parse recurses on the goroutine's stack once per level of
  // nesting (a MiB of "[" took half a GiB of stack), so the nesting and
  // the length are checked first, in Go.
  const jsonParse = JSON.parse;
  const parseJSON = ({
    parse(text, reviver) {
      const s = String(text);
      guardString("JSON.parse", s.length);
      native.checkJSONDepth(s);
      return jsonParse(s, reviver);
    },
  }).parse;
  Object.defineProperty(JSON, "parse", { value: parseJSON, writable: true, configurable: true, enumerable: false });
