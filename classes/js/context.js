// The Durable Object context: ctx.id, storage, blockConcurrencyWhile, waitUntil.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  function makeContext(name) {
    const id = Object.freeze({
      name,
      toString() { return name; },
      equals(o) { return o !== null && typeof o === "object" && o.name === name; },
    });
    return Object.freeze({
      id,
      storage: makeStorage(),
      blockConcurrencyWhile(fn) {
        const p = (async () => fn())();
        native.block(p);
        return p;
      },
      waitUntil(p) { native.waitUntil(Promise.resolve(p)); },
    });
  }
