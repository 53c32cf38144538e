package classes

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/dobj/dobj/objects"
)

const upgradeApp = `
export class Room {}
export default {
  async fetch(request, env) {
    const stub = env.COUNTER.getByName("room");
    const r = await stub.fetch(request);
    if (new URL(request.url).pathname === "/wrap") return new Response("saw " + r.status);
    return r;
  },
};
`

// A stub's fetch of the client's upgrade stands for the object's socket:
// the Worker answering with it hands the upgrade (binding, id, the
// request the object gets) to Fetch's caller, and the object is not
// called; without WithUpgrade, or when the Worker answers with another
// Response, nothing is handed on.
func TestWorkerAnswersWithObjectSocket(t *testing.T) {
	out := &fakeOutbound{counts: map[string]int{}}
	w := newTestWorker(t, upgradeApp, out)
	get := func(ctx context.Context, path string) (*Response, error) {
		h := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
		return w.Fetch(ctx, &Request{Method: "GET", URL: "http://app.example" + path, Header: h}, json.RawMessage(`{}`))
	}
	ctx, upgrade := WithUpgrade(context.Background())
	if _, err := get(ctx, "/socket"); err != nil {
		t.Fatal(err)
	}
	u := upgrade()
	if u == nil {
		t.Fatal("the Worker's answer was not taken as the object's socket")
	}
	id := objects.NewNamespace("app", "Counter").IDFromName("room").String()
	if u.Binding != 0 || u.ID != (StubID{ID: id, Name: "room"}) || u.Request.URL != "http://app.example/socket" || !IsUpgrade(u.Request.Header) {
		t.Fatalf("upgrade %+v, want binding 0, object %s, the client's request", u, id)
	}

	ctx, upgrade = WithUpgrade(context.Background())
	resp, err := get(ctx, "/wrap")
	if err != nil || string(resp.Body) != "saw 101" || upgrade() != nil {
		t.Fatalf("a Worker that answers otherwise: %v, %v, upgrade %v", resp, err, upgrade())
	}
	// Not a client's upgrade: the stub fetches as before.
	resp, err = get(context.Background(), "/wrap")
	if err != nil || string(resp.Body) != "saw 201" {
		t.Fatalf("without WithUpgrade: %v, %v", resp, err)
	}
}
