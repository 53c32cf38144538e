// structuredClone, through the stored encoding (value.go).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  define("structuredClone", (v) => native.clone(v));
