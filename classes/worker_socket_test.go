package classes

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// workerSocketApp is Cloudflare's Worker WebSocket example: the Worker
// answers the upgrade with a WebSocketPair of its own and serves it.
const workerSocketApp = `
let closes = [];
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/closes") return new Response(closes.join(","));
    if (request.headers.get("Upgrade") !== "websocket") return new Response("expected an upgrade", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair());
    if (path !== "/unaccepted") server.accept();
    server.addEventListener("message", async (event) => {
      if (event.data === "bye") { server.close(1000, "as asked"); return; }
      if (event.data === "throw") throw new Error("listener broke");
      await new Promise((res) => setTimeout(res, 1));
      server.send("echo:" + event.data);
    });
    server.addEventListener("close", (event) => { closes.push(event.code + " " + event.reason + " " + event.wasClean); });
    server.addEventListener("error", () => { closes.push("error"); });
    server.send("welcome");
    if (path === "/other") return new Response("not a socket");
    return new Response(null, { status: 101, webSocket: client });
  },
};
`

func TestWorkerServesItsOwnWebSocket(t *testing.T) {
	w, err := NewWorker(Config{RuntimesPerClass: 1}, WorkerConfig{Name: "app", Source: []byte(workerSocketApp)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func(path string) (*Response, *Upgrade, error) {
		t.Helper()
		uctx, upgrade := WithUpgrade(ctx)
		h := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
		resp, err := w.Fetch(uctx, &Request{Method: "GET", URL: "http://app.example" + path, Header: h}, json.RawMessage(`{}`))
		return resp, upgrade(), err
	}
	resp, u, err := open("/chat")
	if err != nil || resp.Status != 101 || u == nil || u.Socket == nil {
		t.Fatalf("upgrade = %+v, %+v, %v; want 101 and the Worker's socket", resp, u, err)
	}
	sock := &fakeSocket{}
	u.Socket.Attach(sock) // what fetch sent goes out now
	if err := u.Socket.Message(ctx, false, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := u.Socket.Message(ctx, true, []byte("b")); err != nil {
		t.Fatal(err)
	}
	// A listener's exception is reported, as the DOM reports it; the
	// socket goes on.
	if err := u.Socket.Message(ctx, false, []byte("throw")); err != nil {
		t.Fatalf("a listener that throws: %v", err)
	}
	if err := u.Socket.Message(ctx, false, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := sock.messages(); !slices.Equal(got, []string{"welcome", "echo:hi", "echo:[object ArrayBuffer]", "echo:again"}) {
		t.Fatalf("the client got %q", got)
	}
	if err := u.Socket.Closed(ctx, 1001, "going", true); err != nil || w.Sockets() != 0 {
		t.Fatalf("closed: %v, %d sockets left", err, w.Sockets())
	}

	// The Worker closes a socket itself; one whose connection ends
	// without a close frame hears "error" then "close".
	_, u, _ = open("/chat")
	sock = &fakeSocket{}
	u.Socket.Attach(sock)
	if err := u.Socket.Message(ctx, false, []byte("bye")); err != nil || sock.closedWith() != "1000 as asked" || w.Sockets() != 0 {
		t.Fatalf("bye: %v, closed %q, %d sockets", err, sock.closedWith(), w.Sockets())
	}
	_, u, _ = open("/chat")
	u.Socket.Attach(&fakeSocket{})
	if err := u.Socket.Closed(ctx, 1006, "", false); err != nil {
		t.Fatal(err)
	}
	resp, err = w.Fetch(ctx, &Request{Method: "GET", URL: "http://app.example/closes", Header: http.Header{}}, json.RawMessage(`{}`))
	if err != nil || string(resp.Body) != "1001 going true,error,1006  false" {
		t.Fatalf("close listeners saw %v, %v", resp, err)
	}

	// A runtime retired (over the memory limit) has lost its listeners:
	// each of its sockets is closed with 1011 at its next message.
	_, u1, _ := open("/chat")
	_, u2, _ := open("/chat")
	s1, s2 := &fakeSocket{}, &fakeSocket{}
	u1.Socket.Attach(s1)
	u2.Socket.Attach(s2)
	u1.Socket.wv.vm.retired.Store(true)
	if err := u1.Socket.Message(ctx, false, []byte("hi")); err != nil || !strings.HasPrefix(s1.closedWith(), "1011") || w.Sockets() != 1 {
		t.Fatalf("a message on a retired runtime: %v, closed %q, %d sockets left; want 1011 and the other socket kept", err, s1.closedWith(), w.Sockets())
	}
	w.CloseSockets(1001, "")
	if s2.closedWith() != "1001" {
		t.Fatalf("CloseSockets closed the other socket with %q", s2.closedWith())
	}

	var se *ScriptError
	// Not taken: an unaccepted server end, a request that is no
	// client's upgrade; a pair accepted by a request that answered
	// otherwise is not kept.
	if _, _, err := open("/unaccepted"); !errors.As(err, &se) || !strings.Contains(se.Message, "server.accept()") {
		t.Fatalf("unaccepted: %v", err)
	}
	h := http.Header{"Upgrade": {"websocket"}}
	if _, err := w.Fetch(ctx, &Request{Method: "GET", URL: "http://app.example/chat", Header: h}, json.RawMessage(`{}`)); !errors.As(err, &se) || !strings.Contains(se.Message, "upgrade request") {
		t.Fatalf("without WithUpgrade: %v", err)
	}
	if resp, u, err := open("/other"); err != nil || resp.Status != 200 || u != nil || w.Sockets() != 0 {
		t.Fatalf("answered otherwise: %+v, %+v, %v, %d sockets", resp, u, err, w.Sockets())
	}
}
