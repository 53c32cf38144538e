// Workers (issue 20): a Worker's env (vars, secrets, Durable Object
// namespaces and their stubs) and the call of its default export's fetch.
// A program of its own (worker.go), run in a Worker's runtime after the
// prelude; it returns { makeEnv, run }.
(function (native) {
  "use strict";
  // A DurableObjectId: toString() is its 64 hex digits, name the name it
  // was made from. Its methods are its prototype's and its state symbol
  // keys, so that making one (a request makes one or two) makes no
  // functions; ID_NS records the namespace that made it.
  const ID_HEX = Symbol("hex"), ID_NS = Symbol("namespace");
  const idProto = {
    toString() { return this[ID_HEX]; },
    equals(o) { return o !== null && typeof o === "object" && String(o) === this[ID_HEX]; },
  };
  function makeId(hex, name, b) {
    const id = Object.create(idProto);
    id[ID_HEX] = hex;
    id[ID_NS] = b;
    if (name !== undefined) id.name = name;
    return Object.freeze(id);
  }
  // requestParts sends a Request (or what new Request takes) to Go.
  async function requestParts(input, init) {
    const req = new Request(input, init);
    const headers = [];
    req.headers.forEach((v, k) => { headers.push([k, v]); });
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    return [req.method, req.url, headers, body];
  }
  function responseOf([status, hs, out]) {
    return new Response(status === 204 || status === 304 ? null : out, { status, headers: hs });
  }
  // rpcProxy: own's properties, and any other name an RPC method,
  // called as proxy.method(args…) or awaited as proxy.prop; rpc is
  // own[RPC]. One handler serves every proxy.
  const RPC = Symbol("rpc"), hasOwn = Object.prototype.hasOwnProperty;
  const rpcHandler = {
    get(t, prop) {
      if (typeof prop !== "string") return undefined;
      if (hasOwn.call(t, prop)) return t[prop];
      if (prop === "then") return undefined; // not a thenable
      const rpc = t[RPC];
      const call = (...args) => rpc(prop, args);
      call.then = (res, rej) => rpc(prop, []).then(res, rej);
      return call;
    },
  };
  function rpcProxy(own, rpc) {
    Object.defineProperty(own, RPC, { value: rpc });
    return new Proxy(own, rpcHandler);
  }
  // upgrades: the Responses standing for an object's WebSocket (the
  // Go half's worker_upgrade.go), with their tokens.
  const upgrades = new WeakMap();
  async function stubFetch(b, id, input, init) {
    const parts = await requestParts(input, init);
    const t = native.upgrade(b, String(id), id.name, ...parts);
    if (t < 0) return responseOf(await native.fetch(b, String(id), id.name, ...parts));
    const r = new Response(null, { status: 200 });
    r.status = 101;
    Object.defineProperty(r, "_webSocket", { value: Object.freeze({}) });
    upgrades.set(r, t);
    return r;
  }
  function stubConnect() { throw new TypeError("stub.connect is not supported"); }
  function makeStub(b, id) {
    const hex = String(id);
    return rpcProxy({
      id, name: id.name,
      fetch: (input, init) => stubFetch(b, id, input, init),
      connect: stubConnect,
    }, (method, args) => native.rpc(b, hex, method, args, id.name));
  }
  // A service binding: fetch and RPC to another script's Worker.
  function makeService(s) {
    return rpcProxy({
      fetch: async (input, init) => responseOf(await native.serviceFetch(s, ...(await requestParts(input, init)))),
      connect() { throw new TypeError("connect is not supported"); },
    }, (method, args) => native.serviceRPC(s, method, args));
  }
  function makeNamespace(b) {
    const idOf = (id) => {
      if (id === null || typeof id !== "object" || typeof id.toString !== "function") {
        throw new TypeError("get() needs a DurableObjectId");
      }
      // This namespace's own ids are checked already (and frozen).
      if (Object.getPrototypeOf(id) === idProto && id[ID_NS] === b) return id;
      return makeId(native.idFromString(b, String(id)), id.name, b);
    };
    const ns = {
      idFromName(name) { name = String(name); return makeId(native.idFromName(b, name), name, b); },
      idFromString(s) { return makeId(native.idFromString(b, String(s)), undefined, b); },
      newUniqueId() { return makeId(native.newUniqueId(b), undefined, b); },
      get(id) { return makeStub(b, idOf(id)); },
      getByName(name) { return makeStub(b, ns.idFromName(name)); },
      jurisdiction() { return ns; },
    };
    return Object.freeze(ns);
  }
  function makeEnv(plain, names, services) {
    const env = JSON.parse(plain);
    names.forEach((name, b) => { env[name] = makeNamespace(b); });
    services.forEach((name, s) => { env[name] = makeService(s); });
    return Object.freeze(env);
  }
  // entry is the export a service binding's RPC reaches: the default
  // export's methods, or a WorkerEntrypoint class's instance's.
  function callEntry(handler, env, method, args) {
    const ctx = { waitUntil(p) { native.waitUntil(Promise.resolve(p)); }, passThroughOnException() {}, props: {} };
    const target = typeof handler === "function" ? new handler(ctx, env) : handler;
    const fn = target === null || target === undefined ? undefined : target[method];
    if (["fetch", "constructor", "connect"].includes(method) || fn === undefined) {
      throw new TypeError(`The RPC receiver does not implement the method "${method}".`);
    }
    return typeof fn === "function" ? fn.apply(target, args) : fn;
  }
  // answer is the Worker's answer r, or, when r stands for an object's
  // WebSocket, tells Go so and answers an empty 200 in its place.
  function answerOne(v) {
    if (v === null || typeof v !== "object" || !upgrades.has(v)) return v;
    native.upgraded(upgrades.get(v));
    return new Response(null, { status: 200 });
  }
  function answer(r) {
    return r !== null && typeof r === "object" && typeof r.then === "function" ? Promise.resolve(r).then(answerOne) : answerOne(r);
  }
  function waitUntil(p) { native.waitUntil(Promise.resolve(p)); }
  function passThroughOnException() {}
  // request.cf, as workerd has it: a getter of Request.prototype. The
  // Worker's incoming request holds the JSON as request[CF], parsed when
  // first read (few Workers read it), so that a request makes no getter;
  // a Request made in JavaScript has none.
  const CF = Symbol("cf");
  Object.defineProperty(Request.prototype, "cf", {
    get() {
      const v = this[CF];
      return typeof v === "string" ? (this[CF] = JSON.parse(v)) : v;
    },
    configurable: true,
  });
  // run calls the default export's fetch: an object with fetch (a hono
  // app is one), or a class (WorkerEntrypoint) built with (ctx, env).
  function run(handler, request, env, cf) {
    request[CF] = cf;
    const ctx = { waitUntil, passThroughOnException, props: {} };
    if (typeof handler === "function") {
      const entry = new handler(ctx, env);
      if (typeof entry.fetch !== "function") throw new TypeError("the Worker's entrypoint has no fetch() method");
      return answer(entry.fetch(request));
    }
    if (handler !== null && typeof handler === "object" && typeof handler.fetch === "function") {
      return answer(handler.fetch(request, env, ctx));
    }
    throw new TypeError("the Worker's default export has no fetch handler");
  }
  return { makeEnv, run, callEntry };
})
