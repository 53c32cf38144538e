// The hooks the engine drives (vm.go), returned by the prelude.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // responseParts is what the engine sends: [status, "name\0value\0…", body],
  // or null when r is not a Response; a promise of r when its body is a
  // stream still to be read (drainBody).
  // Headers never read since Response.json made them are sent as they
  // are; otherwise the Map is joined (with a function made once, not a
  // closure a call).
  let joined = "";
  function joinHeader(v, k) { joined += k + "\0" + v + "\0"; }
  function responseParts(r) {
    if (!(r instanceof Response)) return null;
    if (r._body instanceof ReadableStream) return drainBody(r);
    const hs = r._headers;
    let h;
    if (hs === null && typeof r._hs === "string") {
      h = r._hs;
    } else {
      joined = "";
      r.headers._m.forEach(joinHeader);
      h = joined;
      joined = "";
    }
    return [r.status, h, r._body];
  }
  // drainBody reads the stream body of a Response fetch returned to its
  // end, so that the engine sends it whole: a promise of r once its body
  // is an ArrayBuffer.
  function drainBody(r) {
    if (r.bodyUsed || r._body.locked) throw new TypeError("the Response's body stream is locked or was read already");
    return readAll(r._body, bodyLimit, "the Response").then((b) => { r._body = b; return r; });
  }
  function isClass(v) {
    return typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));
  }
  const arrayFrom = Array.from;
  function mapEntries(m) { return arrayFrom(m); }
  function setValues(s) { return arrayFrom(s); }
  // construct is called through goja's Callable so that the promise jobs
  // the constructor queued run when it returns (Runtime.New does not).
  function construct(C, ctx, env) { return new C(ctx, env); }
  // requestProto: the engine builds the Request fetch gets itself (see
  // requestValue), on this prototype.
  return { makeContext, requestProto: Request.prototype, responseParts, dispatchAwaiting, isClass, mapEntries, setValues, construct };
