package classes

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSocket records what the engine sends a socket.
type fakeSocket struct {
	mu     sync.Mutex
	got    []string // messages, binary ones as "bin:" + data
	closed string   // "code reason" once closed
}

func (f *fakeSocket) Send(binary bool, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if binary {
		f.got = append(f.got, "bin:"+string(data))
		return
	}
	f.got = append(f.got, string(data))
}

func (f *fakeSocket) Close(code int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed == "" {
		f.closed = strings.TrimSpace(strings.Join([]string{strconv.Itoa(code), reason}, " "))
	}
}

func (f *fakeSocket) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeSocket) closedWith() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// socketHarness drives one object's sockets on an engine.
type socketHarness struct {
	t      *testing.T
	e      *Engine
	ref    ClassRef
	object string
	st     *fakeState
}

func newSocketHarness(t *testing.T, src string) *socketHarness {
	t.Helper()
	e := newTestEngine(t, Config{})
	return &socketHarness{t: t, e: e, ref: ClassRef{Name: "Room", Version: 1, Program: mustCompile(t, "Room", src)},
		object: "r1", st: newFakeState("r1")}
}

func (h *socketHarness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// connect runs an upgrade request at path with a fresh fake socket.
func (h *socketHarness) connect(path string) (*fakeSocket, SocketID, *Response, error) {
	h.t.Helper()
	sock := &fakeSocket{}
	req := &Request{Method: "GET", URL: "http://dobj.test" + path, Header: http.Header{"Upgrade": {"websocket"}}}
	resp, id, err := h.e.Connect(h.ctx(), h.ref, h.object, req, h.st, sock, h.st.commit)
	return sock, id, resp, err
}

func (h *socketHarness) mustConnect(path string) (*fakeSocket, SocketID) {
	h.t.Helper()
	sock, id, resp, err := h.connect(path)
	if err != nil {
		h.t.Fatalf("Connect %s: %v", path, err)
	}
	if resp.Status != 101 || id == 0 {
		h.t.Fatalf("Connect %s: status %d id %d, want 101 and an id", path, resp.Status, id)
	}
	return sock, id
}

func (h *socketHarness) message(id SocketID, msg string) error {
	return h.e.SocketMessage(h.ctx(), h.ref, h.object, id, false, []byte(msg), h.st, func(e Effects) error { return h.st.apply(e) })
}

func (h *socketHarness) closed(id SocketID, code int, reason string) error {
	return h.e.SocketClosed(h.ctx(), h.ref, h.object, id, code, reason, true, h.st, func(e Effects) error { return h.st.apply(e) })
}

const echoRoom = `
export class Room {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/plain") return new Response("plain");
    if (url.pathname === "/unaccepted") {
      const [client] = Object.values(new WebSocketPair());
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname === "/broadcast") {
      for (const ws of this.ctx.getWebSockets(url.searchParams.get("tag") ?? undefined)) ws.send("b:" + url.searchParams.get("m"));
      return new Response("sent");
    }
    if (url.pathname === "/count") return new Response(String(this.ctx.getWebSockets().length));
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    if (!(client instanceof WebSocket) || !(server instanceof WebSocket)) throw new Error("not WebSockets");
    this.ctx.acceptWebSocket(server, [url.searchParams.get("tag") ?? "none"]);
    server.send("hello " + this.ctx.getWebSockets().length + " " + server.readyState);
    if (url.searchParams.has("throw")) throw new Error("refused");
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, msg) {
    if (msg === "close") { ws.close(4000, "asked"); return; }
    if (msg === "throw") { ws.send("never"); throw new Error("handler threw"); }
    if (msg === "tags") { ws.send(JSON.stringify(this.ctx.getTags(ws))); return; }
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    await new Promise((r) => setTimeout(r, 1));
    for (const peer of this.ctx.getWebSockets()) peer.send(n + ":" + msg + ":" + (peer === ws));
  }
  async webSocketClose(ws, code, reason, wasClean) {
    await this.ctx.storage.put("closed", code + " " + reason + " " + wasClean);
    for (const peer of this.ctx.getWebSockets()) peer.send("left " + code);
  }
}
`

func TestWebSocketAcceptSendBroadcast(t *testing.T) {
	h := newSocketHarness(t, echoRoom)
	a, aid := h.mustConnect("/ws?tag=red")
	b, bid := h.mustConnect("/ws?tag=blue")
	if got := a.messages(); len(got) != 1 || got[0] != "hello 1 1" {
		t.Fatalf("a got %q, want the welcome sent before the 101 (one socket, OPEN)", got)
	}
	if got := b.messages(); len(got) != 1 || got[0] != "hello 2 1" {
		t.Fatalf("b got %q", got)
	}
	if err := h.message(aid, "hi"); err != nil {
		t.Fatal(err)
	}
	if err := h.message(bid, "yo"); err != nil {
		t.Fatal(err)
	}
	if got := h.st.get("n"); got != "2" {
		t.Fatalf("storage n = %s, want 2: each handler's write committed", got)
	}
	want := map[*fakeSocket][]string{
		a: {"hello 1 1", "1:hi:true", "2:yo:false"},
		b: {"hello 2 1", "1:hi:false", "2:yo:true"},
	}
	for s, w := range want {
		if got := s.messages(); strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("got %q, want %q", got, w)
		}
	}
	// A plain fetch reaches the sockets too, filtered by tag.
	if body := mustDo(t, h.e, h.ref, h.object, h.st, "POST", "/broadcast?tag=blue&m=x", ""); body != "sent" {
		t.Fatalf("broadcast answered %q", body)
	}
	if got := b.messages(); got[len(got)-1] != "b:x" {
		t.Errorf("b's last message %q, want b:x", got[len(got)-1])
	}
	if got := a.messages(); got[len(got)-1] == "b:x" {
		t.Errorf("a (tag red) got the blue broadcast")
	}
	if err := h.message(aid, "tags"); err != nil {
		t.Fatal(err)
	}
	if got := a.messages(); got[len(got)-1] != `["red"]` {
		t.Errorf("getTags = %q", got[len(got)-1])
	}
}

func TestWebSocketOutputGate(t *testing.T) {
	h := newSocketHarness(t, echoRoom)
	a, aid := h.mustConnect("/ws")
	// A handler that throws commits nothing and sends nothing.
	err := h.message(aid, "throw")
	if msg := scriptMessage(t, err); !strings.Contains(msg, "handler threw") {
		t.Fatalf("error %q", msg)
	}
	for _, m := range a.messages() {
		if m == "never" {
			t.Fatal("a failed handler's send went out")
		}
	}
	// Sends are held until commit: a commit that fails sends nothing.
	failing := errors.New("raft is down")
	err = h.e.SocketMessage(h.ctx(), h.ref, h.object, aid, false, []byte("m"), h.st, func(Effects) error { return failing })
	if !errors.Is(err, failing) {
		t.Fatalf("error %v, want the commit's", err)
	}
	if got := a.messages(); len(got) != 1 {
		t.Fatalf("got %q after a failed commit, want only the welcome", got)
	}
	if h.st.get("n") != "" {
		t.Fatal("the failed call's write was applied")
	}
	// The instance was dropped; the rebuilt one still finds the socket.
	if err := h.message(aid, "again"); err != nil {
		t.Fatal(err)
	}
	if got := a.messages(); got[len(got)-1] != "1:again:true" {
		t.Fatalf("after a rebuild got %q", got)
	}
}

func TestWebSocketConnectRefusals(t *testing.T) {
	h := newSocketHarness(t, echoRoom)
	// A fetch that throws after accepting registers nothing and sends nothing.
	sock, _, _, err := h.connect("/ws?throw=1")
	if msg := scriptMessage(t, err); !strings.Contains(msg, "refused") {
		t.Fatalf("error %q", msg)
	}
	if len(sock.messages()) != 0 || h.e.Sockets() != 0 {
		t.Fatalf("a failed upgrade left %q sent and %d sockets", sock.messages(), h.e.Sockets())
	}
	// Answering with a pair whose server end was not accepted fails.
	_, _, _, err = h.connect("/unaccepted")
	if msg := scriptMessage(t, err); !strings.Contains(msg, "not accepted") {
		t.Fatalf("error %q", msg)
	}
	// An upgrade request answered without a WebSocket is an HTTP answer.
	_, id, resp, err := h.connect("/plain")
	if err != nil || id != 0 || resp.Status != 200 || string(resp.Body) != "plain" {
		t.Fatalf("plain answer: %v %d %+v", err, id, resp)
	}
	// A WebSocket Response to a request that is not an upgrade fails.
	if _, err := do(t, h.e, h.ref, h.object, h.st, "GET", "/ws", ""); err == nil {
		t.Fatal("a 101 answer to a plain call succeeded")
	}
	if h.e.Sockets() != 0 {
		t.Fatalf("%d sockets registered", h.e.Sockets())
	}
}

func TestWebSocketClose(t *testing.T) {
	h := newSocketHarness(t, echoRoom)
	a, aid := h.mustConnect("/ws")
	b, bid := h.mustConnect("/ws")
	// The object closes a socket itself: no webSocketClose runs for it.
	if err := h.message(aid, "close"); err != nil {
		t.Fatal(err)
	}
	if got := a.closedWith(); got != "4000 asked" {
		t.Fatalf("a closed with %q", got)
	}
	if body := mustDo(t, h.e, h.ref, h.object, h.st, "GET", "/count", ""); body != "1" {
		t.Fatalf("%s sockets after a close, want 1", body)
	}
	if err := h.message(aid, "late"); err != nil { // a closed socket's message runs nothing
		t.Fatal(err)
	}
	// The client closes: webSocketClose runs, its write commits, its sends go out.
	c, _ := h.mustConnect("/ws")
	if err := h.closed(bid, 1001, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := h.st.get("closed"); got != `"1001 gone true"` {
		t.Fatalf("stored %s", got)
	}
	if got := c.messages(); got[len(got)-1] != "left 1001" {
		t.Fatalf("c got %q", got)
	}
	for _, m := range b.messages() {
		if m == "left 1001" {
			t.Fatal("the closed socket was still listed in its own webSocketClose")
		}
	}
	// A leader change: every socket closes with 1012, no handler runs.
	if n := h.e.CloseSockets(1012, "leader changed"); n != 1 {
		t.Fatalf("CloseSockets closed %d, want 1", n)
	}
	if got := c.closedWith(); got != "1012 leader changed" {
		t.Fatalf("c closed with %q", got)
	}
	if h.e.Sockets() != 0 {
		t.Fatal("sockets left after CloseSockets")
	}
}

// TestWebSocketRuntimeForgetsClosedSockets: a runtime outlives its
// objects' sockets, so the WebSocket objects it keeps for them go once they
// are closed, not when an instance is dropped.
func TestWebSocketRuntimeForgetsClosedSockets(t *testing.T) {
	h := newSocketHarness(t, echoRoom)
	const sockets = 1000
	for i := range sockets {
		_, id := h.mustConnect("/ws")
		if err := h.closed(id, 1000, "bye"); err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
	}
	h.e.runtimes.mu.Lock()
	vms := slices.Clone(h.e.runtimes.byClass["Room"].vms)
	h.e.runtimes.mu.Unlock()
	if len(vms) != 1 {
		t.Fatalf("%d runtimes for one object, want 1", len(vms))
	}
	vm := vms[0]
	vm.take()
	n, err := vm.ws.remembered(nil)
	vm.give()
	if err != nil {
		t.Fatal(err)
	}
	if got := n.ToInteger(); got >= 300 {
		t.Fatalf("the runtime keeps %d WebSocket objects after %d sockets opened and closed, want under 300", got, sockets)
	}
	if body := mustDo(t, h.e, h.ref, h.object, h.st, "GET", "/count", ""); body != "0" {
		t.Fatalf("%s sockets listed, want 0", body)
	}
}

func TestWebSocketAPIErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"constructor", `new WebSocket("ws://x")`, "WebSocketPair"},
		{"accept client end", `const [c] = Object.values(new WebSocketPair()); this.ctx.acceptWebSocket(c)`, "client end"},
		{"accept twice", `const [, s] = Object.values(new WebSocketPair()); this.ctx.acceptWebSocket(s); this.ctx.acceptWebSocket(s)`, "accepted already"},
		{"bad tags", `const [, s] = Object.values(new WebSocketPair()); this.ctx.acceptWebSocket(s, [1])`, "tags must be strings"},
		{"status", `const [c] = Object.values(new WebSocketPair()); return new Response(null, {status: 200, webSocket: c})`, "status 101"},
		{"close code", `const [, s] = Object.values(new WebSocketPair()); s.close(1006)`, "close code"},
		{"accept twice", `const [, s] = Object.values(new WebSocketPair()); s.accept(); this.ctx.acceptWebSocket(s)`, "accepted already"},
		{"send type", `const [, s] = Object.values(new WebSocketPair()); s.send({})`, "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSocketHarness(t, `export class Room { constructor(ctx) { this.ctx = ctx; }
				async fetch() { `+tt.body+`; return new Response("no error"); } }`)
			_, _, _, err := h.connect("/")
			if msg := scriptMessage(t, err); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}

func TestWebSocketBinaryAndAttachment(t *testing.T) {
	h := newSocketHarness(t, `export class Room { constructor(ctx) { this.ctx = ctx; }
		async fetch() {
			const [c, s] = Object.values(new WebSocketPair());
			this.ctx.acceptWebSocket(s);
			s.serializeAttachment({ user: "ann", n: [1, 2] });
			return new Response(null, { status: 101, webSocket: c });
		}
		async webSocketMessage(ws, m) {
			const a = ws.deserializeAttachment();
			ws.send(a.user + ":" + (m instanceof ArrayBuffer ? "ab" : typeof m) + ":" + new TextDecoder().decode(m));
			ws.send(new TextEncoder().encode("raw"));
		} }`)
	a, id := h.mustConnect("/")
	if err := h.e.SocketMessage(h.ctx(), h.ref, h.object, id, true, []byte("xy"), h.st, func(Effects) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.messages(), "|"); got != "ann:ab:xy|bin:raw" {
		t.Fatalf("got %q", got)
	}
}

// TestChatExample runs examples/chat.js on fake sockets: every message
// reaches every socket in one order, stored with its sequence number.
func TestChatExample(t *testing.T) {
	src, err := os.ReadFile("../examples/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, Config{})
	h := &socketHarness{t: t, e: e, ref: ClassRef{Name: "ChatRoom", Version: 1, Program: mustCompile(t, "ChatRoom", string(src))},
		object: "lobby", st: newFakeState("lobby")}
	var socks []*fakeSocket
	var ids []SocketID
	for _, u := range []string{"ann", "bob", "cy"} {
		s, id := h.mustConnect("/websocket?user=" + u)
		socks, ids = append(socks, s), append(ids, id)
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.message(id, "m"+strconv.Itoa(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	first := socks[0].messages()[1:]
	if len(first) != 3 {
		t.Fatalf("ann got %q, want 3 messages after the join", first)
	}
	for i, s := range socks {
		if got := s.messages()[1:]; strings.Join(got, "|") != strings.Join(first, "|") {
			t.Errorf("socket %d got %q, want %q", i, got, first)
		}
	}
	for i, m := range first {
		if !strings.Contains(m, `"seq":`+strconv.Itoa(i+1)) {
			t.Errorf("message %d is %s, want seq %d", i, m, i+1)
		}
	}
	if body := mustDo(t, e, h.ref, h.object, h.st, "GET", "/history", ""); strings.Count(body, `"seq"`) != 3 {
		t.Errorf("history %s", body)
	}
}

// TestWebSocketResponseIsAResponse: the Response that takes a webSocket
// is still the one Response, for the class's instanceof checks.
func TestWebSocketResponseIsAResponse(t *testing.T) {
	h := newSocketHarness(t, `export class Room { constructor(ctx) { this.ctx = ctx; }
		async fetch() {
			const [c, s] = Object.values(new WebSocketPair());
			const checks = [
				Response.json({}) instanceof Response,
				new Response("x") instanceof Response,
				new Response("x").webSocket === null,
				new Response(null, { status: 101, webSocket: c }) instanceof Response,
				new Response(null, { status: 101, webSocket: c }).webSocket === c,
				new (class extends Response {})("y") instanceof Response,
				new Response("z").constructor === Response,
			];
			return new Response(checks.join(","));
		} }`)
	_, _, resp, err := h.connect("/")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != "true,true,true,true,true,true,true" {
		t.Fatalf("checks %s", got)
	}
}
