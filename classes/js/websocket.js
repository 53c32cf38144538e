// WebSockets in object classes: Cloudflare's hibernation API
// (WebSocketPair, ctx.acceptWebSocket, ctx.getWebSockets, ws.send,
// ws.close, and the class's webSocketMessage and webSocketClose handlers),
// its auto-responses (WebSocketRequestResponsePair,
// ctx.setWebSocketAutoResponse) and the non-hibernating ws.accept() with
// event listeners (socketevents.go).
// This file evaluates to a function the engine calls once per runtime,
// after the prelude, with its Go natives (websocket.go); it returns the
// hooks the engine drives. Sockets belong to the engine, not to the
// runtime: an instance rebuilt from storage finds its object's sockets
// again through getWebSockets.
(function (native, dispatchAwaiting) {
  "use strict";
  const g = globalThis;
  const EventTarget = g.EventTarget, Event = g.Event;
  function define(name, value) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
  const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
  const priv = new WeakMap(); // WebSocket -> {id, server}
  // byID keeps one server WebSocket object per socket for this runtime,
  // so getWebSockets and the handlers hand the class the same object. The
  // runtime is shared by many objects and lives long: remember forgets the
  // sockets no longer open whenever byID has doubled since it last did.
  const byID = new Map();
  let pruneAt = 256;
  function remember(id, ws) {
    byID.set(id, ws);
    if (byID.size < pruneAt) return;
    for (const gone of native.closed(Array.from(byID.keys()))) byID.delete(gone);
    pruneAt = Math.max(256, 2 * byID.size);
  }

  function state(ws, what) {
    const p = priv.get(ws);
    if (p === undefined) throw new TypeError(what + ": not a WebSocket");
    return p;
  }
  function serverState(ws, what) {
    const p = state(ws, what);
    if (!p.server) throw new TypeError(what + ": the client end of a WebSocketPair is the caller's; use the server end");
    return p;
  }
  function bytesOf(m) {
    if (m instanceof ArrayBuffer) return m;
    if (ArrayBuffer.isView(m)) return m.buffer.slice(m.byteOffset, m.byteOffset + m.byteLength);
    return null;
  }

  class WebSocket extends EventTarget {
    constructor() { super(); throw new TypeError("WebSocket: make one with new WebSocketPair()"); }
    send(message) {
      const p = serverState(this, "send");
      if (typeof message === "string") { native.send(p.id, message, false); return; }
      const b = bytesOf(message);
      if (b === null) throw new TypeError("send: the message must be a string, an ArrayBuffer or a view of one");
      native.send(p.id, b, true);
    }
    close(code, reason) {
      const p = serverState(this, "close");
      code = code === undefined ? 1000 : Number(code);
      if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))) {
        throw new TypeError("close: " + code + " is not a close code a server may send");
      }
      reason = reason === undefined ? "" : String(reason);
      native.close(p.id, code, reason);
    }
    get readyState() { return native.readyState(state(this, "readyState").id); }
    serializeAttachment(v) { native.setAttachment(serverState(this, "serializeAttachment").id, v); }
    deserializeAttachment() { return native.getAttachment(serverState(this, "deserializeAttachment").id); }
    // accept is the non-hibernating API's: events go to the listeners.
    accept() { native.listen(serverState(this, "accept").id); }
    get [Symbol.toStringTag]() { return "WebSocket"; }
  }
  for (const [k, v] of [["CONNECTING", CONNECTING], ["OPEN", OPEN], ["CLOSING", CLOSING], ["CLOSED", CLOSED],
    ["READY_STATE_CONNECTING", CONNECTING], ["READY_STATE_OPEN", OPEN], ["READY_STATE_CLOSING", CLOSING], ["READY_STATE_CLOSED", CLOSED]]) {
    Object.defineProperty(WebSocket, k, { value: v, enumerable: true });
  }
  function makeSocket(id, server) {
    const ws = Object.create(WebSocket.prototype);
    priv.set(ws, { id, server });
    return ws;
  }
  function socketFor(id) {
    let ws = byID.get(id);
    if (ws === undefined) {
      ws = makeSocket(id, true);
      remember(id, ws);
    }
    return ws;
  }
  define("WebSocket", WebSocket);

  class WebSocketPair {
    constructor() {
      const id = native.pair();
      const server = makeSocket(id, true);
      remember(id, server);
      Object.defineProperty(this, 0, { value: makeSocket(id, false), enumerable: true });
      Object.defineProperty(this, 1, { value: server, enumerable: true });
    }
  }
  define("WebSocketPair", WebSocketPair);

  class WebSocketRequestResponsePair {
    constructor(request, response) {
      if (arguments.length < 2) throw new TypeError("WebSocketRequestResponsePair: 2 arguments required");
      Object.defineProperty(this, "_request", { value: `${request}` });
      Object.defineProperty(this, "_response", { value: `${response}` });
    }
    get request() { return this._request; }
    get response() { return this._response; }
  }
  define("WebSocketRequestResponsePair", WebSocketRequestResponsePair);

  class MessageEvent extends Event {
    constructor(type, init) {
      super(type, init);
      Object.defineProperty(this, "_data", { value: init === undefined || init === null ? null : init.data });
    }
    get data() { return this._data === undefined ? null : this._data; }
  }
  class CloseEvent extends Event {
    constructor(type, init) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      Object.defineProperties(this, {
        _code: { value: i.code === undefined ? 0 : Number(i.code) },
        _reason: { value: i.reason === undefined ? "" : `${i.reason}` },
        _wasClean: { value: !!i.wasClean },
      });
    }
    get code() { return this._code; }
    get reason() { return this._reason; }
    get wasClean() { return this._wasClean; }
  }
  class ErrorEvent extends Event {
    constructor(type, init) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      Object.defineProperties(this, {
        _message: { value: i.message === undefined ? "" : `${i.message}` },
        _error: { value: i.error },
      });
    }
    get message() { return this._message; }
    get error() { return this._error; }
  }
  define("MessageEvent", MessageEvent);
  define("CloseEvent", CloseEvent);
  define("ErrorEvent", ErrorEvent);
  // dispatch is an event for a socket accepted with ws.accept(): a
  // promise of what its listeners started.
  function dispatch(id, type, a, b, c) {
    const ws = socketFor(id);
    let ev;
    if (type === "message") ev = new MessageEvent("message", { data: a });
    else if (type === "close") ev = new CloseEvent("close", { code: a, reason: b, wasClean: c });
    else ev = new ErrorEvent("error", { message: a, error: new Error(a) });
    return dispatchAwaiting(ws, ev);
  }

  // Response accepts {status: 101, webSocket: client}, Cloudflare's way
  // of answering an upgrade. The new Response shares the prelude's
  // prototype (and inherits its statics), so that Response.json's answers
  // and the prelude's stay instanceof Response and subclasses still work.
  const BaseResponse = g.Response;
  Object.defineProperty(BaseResponse.prototype, "webSocket", {
    get() { return this._webSocket === undefined ? null : this._webSocket; },
    configurable: true,
  });
  function Response(body, init) {
    if (new.target === undefined) throw new TypeError("Response: use new");
    if (init === undefined || init === null || init.webSocket === undefined || init.webSocket === null) {
      return Reflect.construct(BaseResponse, [body, init], new.target);
    }
    const p = state(init.webSocket, "Response");
    if (p.server) throw new TypeError("Response: webSocket must be the client end of a WebSocketPair");
    if (Number(init.status) !== 101) throw new RangeError("Response: a webSocket needs status 101");
    if (body !== null && body !== undefined) throw new TypeError("Response with status 101 cannot have a body");
    const r = Reflect.construct(BaseResponse, [null, { headers: init.headers, statusText: init.statusText }], new.target);
    r.status = 101;
    Object.defineProperty(r, "_webSocket", { value: init.webSocket });
    return r;
  }
  Response.prototype = BaseResponse.prototype;
  Object.defineProperty(BaseResponse.prototype, "constructor", { value: Response, writable: true, configurable: true });
  Object.setPrototypeOf(Response, BaseResponse);
  define("Response", Response);

  function tagsOf(tags) {
    if (tags === undefined || tags === null) return [];
    return Array.from(tags, (t) => {
      if (typeof t !== "string") throw new TypeError("acceptWebSocket: tags must be strings");
      return t;
    });
  }
  // wrapContext adds the WebSocket methods to a context made by the prelude.
  function wrapContext(ctx) {
    const c = Object.create(ctx);
    Object.defineProperties(c, {
      acceptWebSocket: {
        enumerable: true,
        value(ws, tags) { native.accept(serverState(ws, "acceptWebSocket").id, tagsOf(tags)); },
      },
      getWebSockets: {
        enumerable: true,
        value(tag) { return native.list(tag === undefined || tag === null ? null : String(tag)).map(socketFor); },
      },
      getTags: {
        enumerable: true,
        value(ws) { return native.tags(serverState(ws, "getTags").id); },
      },
      setWebSocketAutoResponse: {
        enumerable: true,
        value(pair) {
          if (pair === undefined || pair === null) { native.setAuto(null, null); return; }
          if (!(pair instanceof WebSocketRequestResponsePair)) {
            throw new TypeError("setWebSocketAutoResponse: expected a WebSocketRequestResponsePair");
          }
          native.setAuto(pair.request, pair.response);
        },
      },
      getWebSocketAutoResponse: {
        enumerable: true,
        value() { const a = native.getAuto(); return a === null ? null : new WebSocketRequestResponsePair(a[0], a[1]); },
      },
      getWebSocketAutoResponseTimestamp: {
        enumerable: true,
        value(ws) { const ms = native.autoAt(serverState(ws, "getWebSocketAutoResponseTimestamp").id); return ms === null ? null : new Date(ms); },
      },
    });
    return Object.freeze(c);
  }
  // upgradeOf is the socket id of the client end r answers with, -1 when
  // r is not a WebSocket Response.
  function upgradeOf(r) {
    if (!(r instanceof BaseResponse) || r.status !== 101) return -1;
    const p = priv.get(r._webSocket);
    return p === undefined || p.server ? -1 : p.id;
  }
  return { wrapContext, upgradeOf, socketFor, dispatch, remembered: () => byID.size };
})
