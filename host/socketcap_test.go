package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/classes"
)

// A socket's queue is allocated as messages wait, not ahead: 2,000 idle
// sockets once took 358 MB in their queues.
func TestServerSocketQueueGrowsAsNeeded(t *testing.T) {
	const n = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	socks := make([]*serverSocket, n)
	for i := range socks {
		socks[i] = newServerSocket()
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(socks)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 1024 {
		t.Fatalf("a new socket allocates %d bytes, want at most 1 KiB", per)
	}
}

const testRoom = `
export class Room {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(req) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, msg) { ws.send("echo " + msg); }
}
`

// serveSockets serves n's host's WebSockets to object r1 of Room on a
// test server, as the api does, and returns its ws:// URL.
func serveSockets(t *testing.T, n *testNode) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &classes.Request{Method: r.Method, URL: "http://x" + r.URL.Path, Header: r.Header.Clone()}
		res, err := n.host.ServeWebSocket(w, r, "Room", classes.StubID{ID: "r1"}, req)
		switch {
		case res == nil && err == nil: // upgraded
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			w.WriteHeader(res.Response.Status)
			w.Write(res.Response.Body)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// The leader counts the sockets followers relay to it in its cap, as it
// counts its own clients': each costs it the same.
func TestRelayedSocketsCountInTheLeadersCap(t *testing.T) {
	cfg := testHostConfig()
	cfg.MaxSockets = 1
	c := newTestClusterWith(t, cfg)
	leader := c.waitLeader(nil)
	if _, err := leader.host.DeployClass(context.Background(), "Room", classes.JavaScript, []byte(testRoom)); err != nil {
		t.Fatal(err)
	}
	f := c.follower(leader)
	c.eventually(5*time.Second, "the class on the follower", func() bool { _, ok := f.Class("Room"); return ok })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	relayed, _, err := websocket.Dial(ctx, serveSockets(t, f), nil)
	if err != nil {
		t.Fatalf("a socket through the follower: %v", err)
	}
	defer relayed.CloseNow()
	if err := relayed.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := relayed.Read(ctx); err != nil || string(data) != "echo hi" {
		t.Fatalf("relayed socket read %q, %v", data, err)
	}
	if open := leader.host.sockets.open.Load(); open != 1 {
		t.Fatalf("the leader counts %d sockets, want the relayed one", open)
	}
	leaderURL := serveSockets(t, leader)
	if c, resp, err := websocket.Dial(ctx, leaderURL, nil); err == nil {
		c.CloseNow()
		t.Fatal("the leader took a socket past its cap")
	} else if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a socket past the cap: %v, want 503", err)
	}

	relayed.Close(websocket.StatusNormalClosure, "")
	c.eventually(5*time.Second, "the relayed socket's place given back", func() bool { return leader.host.sockets.open.Load() == 0 })
	direct, _, err := websocket.Dial(ctx, leaderURL, nil)
	if err != nil {
		t.Fatalf("a socket once the relayed one closed: %v", err)
	}
	direct.CloseNow()
}
