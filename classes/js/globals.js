// What the parts below share: built-ins taken once, and define.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // Built-ins the per-call paths below use, taken once: a global lookup
  // on every call costs map lookups in memory that is usually cold (and
  // a class that replaces a global does not change Response.json).
  const objectCreate = Object.create, isInteger = Number.isInteger, isArray = Array.isArray;

  function define(name, value) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
