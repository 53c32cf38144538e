// fetch: outbound HTTP to the hosts the operator allows (fetch.go).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // fetchedResponse is the Response of fetch.go's [status, statusText,
  // "name\0value\0…", body, url].
  function fetchedResponse(parts, req) {
    const r = objectCreate(Response.prototype);
    r.status = parts[0];
    r.statusText = parts[1];
    r._hs = parts[2];
    r._body = nullBodyStatus(parts[0]) || req.method === "HEAD" ? null : parts[3];
    r._url = parts[4];
    r._redirected = parts[4] !== req.url;
    return r;
  }
  define("fetch", function fetch(input, init) {
    let req, redirect;
    try {
      req = input instanceof Request && init === undefined ? input : new Request(input, init);
      redirect = init !== undefined && init !== null && init.redirect !== undefined ? `${init.redirect}` : "follow";
      if (redirect !== "follow" && redirect !== "manual") throw new TypeError(`fetch: redirect ${redirect} is not supported ("follow" or "manual")`);
    } catch (e) { return Promise.reject(e); }
    const signal = req.signal;
    if (signal !== null && signal !== undefined && signal.aborted) return Promise.reject(signal.reason);
    let hs = "";
    req.headers.forEach((v, k) => { hs += k + "\0" + v + "\0"; });
    const body = req._body === null ? Promise.resolve(null) : req._consume();
    return body.then((b) => new Promise((resolve, reject) => {
      const id = native.fetch(req.method, req.url, hs, b, redirect, (parts) => resolve(fetchedResponse(parts, req)), reject);
      // An abort rejects at once with the signal's reason and cancels
      // the request, whose own failure then changes nothing.
      if (signal !== null && signal !== undefined && typeof signal.addEventListener === "function") {
        signal.addEventListener("abort", () => { reject(signal.reason); native.abortFetch(id); }, { once: true });
      }
    }));
  });
