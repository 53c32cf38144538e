// The Durable Object context: ctx.id, storage, blockConcurrencyWhile, waitUntil.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // makeContext(object, named): a /_classes object's id is its name; a
  // script's object (named, a holder Go fills in) is its id's 64 hex
  // digits, and its name is the one its id was made from, once a call
  // made through idFromName or getByName brought it (undefined until
  // then, and for ids from newUniqueId or idFromString alone).
  function makeContext(object, named) {
    const id = named === undefined ? Object.freeze({
      name: object,
      toString() { return object; },
      equals(o) { return o !== null && typeof o === "object" && o.name === object; },
    }) : Object.freeze({
      get name() { return named.name; },
      toString() { return object; },
      equals(o) { return o !== null && typeof o === "object" && String(o) === object; },
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
