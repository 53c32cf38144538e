package classes

import (
	"slices"
	"strings"
	"testing"
)

const autoRoom = `
export class Room {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/set") { this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong")); return new Response("set"); }
    if (path === "/clear") { this.ctx.setWebSocketAutoResponse(); return new Response(String(this.ctx.getWebSocketAutoResponse())); }
    if (path === "/show") {
      const p = this.ctx.getWebSocketAutoResponse();
      const ts = this.ctx.getWebSockets().map((ws) => { const t = this.ctx.getWebSocketAutoResponseTimestamp(ws); return t === null ? null : t instanceof Date && t.getTime() > 0; });
      return Response.json([p.request, p.response, ts]);
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, m) { await this.ctx.storage.put("last", m); ws.send("handled " + m); }
}
`

// TestWebSocketAutoResponse: a message equal to the auto-response's
// request is answered by the engine, without running the object; others
// run the handler as before; the timestamp says when it answered.
func TestWebSocketAutoResponse(t *testing.T) {
	h := newSocketHarness(t, autoRoom)
	a, aid := h.mustConnect("/ws")
	_, _ = h.mustConnect("/ws")
	if got := mustDo(t, h.e, h.ref, h.object, h.st, "GET", "/set", ""); got != "set" {
		t.Fatal(got)
	}
	if err := h.message(aid, "ping"); err != nil {
		t.Fatal(err)
	}
	if err := h.message(aid, "other"); err != nil {
		t.Fatal(err)
	}
	if got := a.messages(); !slices.Equal(got, []string{"pong", "handled other"}) {
		t.Fatalf("socket got %q", got)
	}
	if last := h.st.get("last"); last != `"other"` {
		t.Fatalf("the handler ran for %s, want only for the other message", last)
	}
	if got := mustDo(t, h.e, h.ref, h.object, h.st, "GET", "/show", ""); got != `["ping","pong",[true,null]]` {
		t.Fatalf("/show: %s", got)
	}
	if got := mustDo(t, h.e, h.ref, h.object, h.st, "GET", "/clear", ""); got != "null" {
		t.Fatalf("/clear: %s", got)
	}
	if err := h.message(aid, "ping"); err != nil {
		t.Fatal(err)
	}
	if got := a.messages(); !slices.Equal(got, []string{"pong", "handled other", "handled ping"}) {
		t.Fatalf("after clearing, socket got %q", got)
	}
}

func TestWebSocketAutoResponseErrors(t *testing.T) {
	h := newSocketHarness(t, `export class Room { constructor(ctx) { this.ctx = ctx }
  async fetch(req) { const q = new URL(req.url).searchParams.get("q");
    if (q === "type") this.ctx.setWebSocketAutoResponse({request: "a", response: "b"});
    if (q === "long") this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("x".repeat(2049), "y"));
    if (q === "args") new WebSocketRequestResponsePair("a");
    return new Response("ok") } }`)
	for q, want := range map[string]string{"type": "expected a WebSocketRequestResponsePair", "long": "at most 2048", "args": "2 arguments required"} {
		_, err := do(t, h.e, h.ref, h.object, h.st, "GET", "/?q="+q, "")
		if msg := scriptMessage(t, err); !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", q, msg, want)
		}
	}
}

const listenRoom = `
export class Room {
  constructor(ctx) { this.ctx = ctx; this.count = 0; }
  async fetch(req) {
    if (new URL(req.url).pathname === "/fail") throw new Error("reset me");
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", async (e) => {
      this.count++;
      await scheduler.wait(1);
      await this.ctx.storage.put("n", this.count);
      server.send("got " + e.data + " " + this.count + " " + (e instanceof MessageEvent));
      if (e.data === "bye") server.close(1000, "bye");
    });
    server.addEventListener("close", (e) => this.ctx.storage.put("closed", [e.code, e.reason, e.wasClean, e instanceof CloseEvent]));
    server.send("hi " + server.readyState + " " + (server instanceof EventTarget));
    return new Response(null, { status: 101, webSocket: client });
  }
}
`

// TestWebSocketAcceptAndListeners: the non-hibernating API. Messages go
// to the listeners of the instance that accepted the socket, whose
// memory persists between them; their async work settles and commits as
// a handler's; the client's close reaches the close listener; and once
// the instance is reset, the socket is closed with 1011.
func TestWebSocketAcceptAndListeners(t *testing.T) {
	h := newSocketHarness(t, listenRoom)
	a, aid := h.mustConnect("/ws")
	for _, m := range []string{"x", "y"} {
		if err := h.message(aid, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.messages(); !slices.Equal(got, []string{"hi 1 true", "got x 1 true", "got y 2 true"}) {
		t.Fatalf("socket got %q", got)
	}
	if n := h.st.get("n"); n != "2" {
		t.Fatalf("n = %s, want the listeners' write committed", n)
	}
	b, bid := h.mustConnect("/ws")
	if err := h.closed(bid, 1001, "away"); err != nil {
		t.Fatal(err)
	}
	if got := h.st.get("closed"); got != `[1001,"away",true,true]` {
		t.Fatalf("close listener stored %s", got)
	}
	if b.closedWith() != "" {
		t.Fatalf("a socket the client closed was closed again: %s", b.closedWith())
	}
	if _, err := do(t, h.e, h.ref, h.object, h.st, "GET", "/fail", ""); err == nil {
		t.Fatal("the failing call succeeded")
	}
	if err := h.message(aid, "z"); err != nil {
		t.Fatal(err)
	}
	if got := a.closedWith(); got != "1011 the Durable Object was reset" {
		t.Fatalf("after a reset the socket was closed with %q", got)
	}
	if got := a.messages(); len(got) != 3 {
		t.Fatalf("a reset object's listeners ran: %q", got)
	}
}
