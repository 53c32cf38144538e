package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/classes"
)

const socketScript = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch(req) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, msg) { ws.send("echo " + msg + " " + this.ctx.getWebSockets().length + " " + this.ctx.id.name); }
}
export default {
  async fetch(request, env) { return env.COUNTER.getByName("room").fetch(request); },
};
`

// serveWorkerSockets serves n's Worker of script "app" on a test server,
// as the api's Worker listener does, and returns its ws:// URL.
func serveWorkerSockets(t *testing.T, n *testNode) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, upgrade := classes.WithUpgrade(r.Context())
		req := &classes.Request{Method: r.Method, URL: "http://x" + r.URL.Path, Header: r.Header.Clone()}
		resp, err := n.host.ServeWorker(ctx, "app", req, []byte(`{}`))
		if err == nil && upgrade() == nil {
			http.Error(w, "the Worker answered without a socket", http.StatusBadGateway)
			return
		}
		if err == nil {
			var res *CallResult
			if res, err = n.host.ServeWorkerSocket(w, r, "app", upgrade()); err == nil && res == nil {
				return
			} else if err == nil {
				resp = res.Response
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(resp.Status)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// A Worker that answers a client's upgrade with its object's socket
// joins the client to the object on the leader, from either node, and
// the sockets count in the node's cap like /do/ clients'.
func TestWorkerPassesOnObjectSocket(t *testing.T) {
	cfg := testHostConfig()
	cfg.MaxSockets = 1
	c := newTestClusterWith(t, cfg)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", socketScript, "L")
	f := c.followerHolding(leader, "app", v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	viaFollower, _, err := websocket.Dial(ctx, serveWorkerSockets(t, f), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viaFollower.CloseNow()
	if err := viaFollower.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	// The object was reached through getByName("room"): the name came
	// with the relayed socket.
	if _, b, err := viaFollower.Read(ctx); err != nil || string(b) != "echo hi 1 room" {
		t.Fatalf("through the follower's Worker: %q, %v", b, err)
	}
	// The leader already serves the relayed socket: its cap of 1 is full.
	_, resp, err := websocket.Dial(ctx, serveWorkerSockets(t, leader), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second socket over the cap: %v, %v", resp, err)
	}
}

// ownSocketScript is Cloudflare's Worker WebSocket example, with a stub
// call in its listener: the Worker answers the upgrade with a
// WebSocketPair of its own.
const ownSocketScript = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment() {
    const v = ((await this.ctx.storage.get("value")) || 0) + 1;
    await this.ctx.storage.put("value", v);
    return v;
  }
}
export default {
  async fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("expected websocket", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", async (event) => {
      if (event.data === "count") { server.send("count " + await env.COUNTER.getByName("room").increment()); return; }
      server.send("echo " + event.data);
    });
    server.send("welcome");
    return new Response(null, { status: 101, webSocket: client });
  },
};
`

// A Worker answering a client's upgrade with its own WebSocketPair
// serves the socket on the node that received it: no call reaches the
// leader until the Worker calls an object, and the socket counts in the
// node's cap.
func TestWorkerServesOwnSocket(t *testing.T) {
	cfg := testHostConfig()
	cfg.MaxSockets = 1
	c := newTestClusterWith(t, cfg)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", ownSocketScript, "L")
	f := c.followerHolding(leader, "app", v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := serveWorkerSockets(t, f)
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	read := func(want string) {
		t.Helper()
		if _, b, err := conn.Read(ctx); err != nil || string(b) != want {
			t.Fatalf("read %q, %v; want %q", b, err, want)
		}
	}
	read("welcome")
	if err := conn.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	read("echo hi")
	if n := leader.host.callsOnStream.Load(); n != 0 {
		t.Fatalf("the leader ran %d calls for a Worker's own socket; want none", n)
	}
	if n := f.host.sockets.open.Load(); n != 1 {
		t.Fatalf("the follower counts %d sockets; want 1", n)
	}
	// The cap of 1 is full: a second client is refused.
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second socket over the cap: %v, %v", resp, err)
	}
	for _, want := range []string{"count 1", "count 2"} {
		if err := conn.Write(ctx, websocket.MessageText, []byte("count")); err != nil {
			t.Fatal(err)
		}
		read(want)
	}
	// A redeploy leaves the socket on the version that accepted it; the
	// node's stop closes it as its other sockets (1012: reconnect).
	v2 := deployScript(t, c, leader, "app", ownSocketScript, "L2")
	c.eventually(5*time.Second, "the redeploy on the follower", func() bool {
		s, _ := f.Script("app")
		return s.Version == v2
	})
	if resp, err := workerGetTest(t, f, "/"); err != nil || resp.Status != 426 {
		t.Fatalf("a request to the new version = %v, %v", resp, err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("still")); err != nil {
		t.Fatal(err)
	}
	read("echo still")
	f.host.closeSockets()
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != closeRestart {
		t.Fatalf("after the node's stop the client read %v; want close %d", err, closeRestart)
	}
	c.eventually(5*time.Second, "the socket's place given back", func() bool { return f.host.sockets.open.Load() == 0 })
}
