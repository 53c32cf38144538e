package api_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
)

// echoWorker is Cloudflare's Worker WebSocket example as its
// documentation gives it: the Worker itself accepts the server end.
const echoWorker = `
export default {
  async fetch(request) {
    const upgradeHeader = request.headers.get("Upgrade");
    if (!upgradeHeader || upgradeHeader !== "websocket") {
      return new Response("Durable Object expected Upgrade: websocket", { status: 426 });
    }
    const webSocketPair = new WebSocketPair();
    const [client, server] = Object.values(webSocketPair);
    server.accept();
    server.addEventListener("message", (event) => {
      server.send("[" + new Date(0).toISOString() + "] " + event.data);
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};
`

// TestWorkerListenerServesWorkerSocket: a real WebSocket client through
// the Worker listener reaches a socket the Worker serves itself.
func TestWorkerListenerServesWorkerSocket(t *testing.T) {
	n := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", n.node.Ready)
	_, err := n.node.DeployScript(context.Background(), &fsm.ScriptPut{Name: "echo", MainModule: "index.js",
		Modules: []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(echoWorker)}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.NewWorkerHandler(api.WorkerConfig{NodeID: "n1"}, n.host))
	defer ts.Close()
	if code, body := call(t, "GET", ts.URL+"/", nil, nil); code != 426 || !strings.Contains(string(body), "expected Upgrade") {
		t.Fatalf("a plain request = %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for _, msg := range []string{"one", "two"} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, b, err := conn.Read(ctx); err != nil || string(b) != "[1970-01-01T00:00:00.000Z] "+msg {
			t.Fatalf("echo of %s = %q, %v", msg, b, err)
		}
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
