package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
)

const opCounter = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(by = 1) {
    const v = ((await this.ctx.storage.get("value")) || 0) + by;
    await this.ctx.storage.put("value", v);
    return v;
  }
  reset() { return this.ctx.storage.deleteAll(); }
  fail() { throw new RangeError("no way"); }
  whoami() { return this.ctx.id.name; }
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/id-name") return new Response(String(this.ctx.id.name));
    return new Response(path + " " + ((await this.ctx.storage.get("value")) || 0));
  }
}
export default { fetch() { return new Response("worker"); } };
`

// counterAppNode starts a one-node stack with script "app" deployed
// (opCounter's Counter class) and returns the node's URL.
func counterAppNode(t *testing.T) string {
	t.Helper()
	n := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", n.node.Ready)
	_, err := n.node.DeployScript(context.Background(), &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(opCounter)}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewClasses: []string{"Counter"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return n.url
}

// TestScriptObjectRoutes reaches a script's object without a Worker: RPC
// with JSON arguments and fetch, by the object's name.
func TestScriptObjectRoutes(t *testing.T) {
	url := counterAppNode(t)
	base := url + "/_scripts/app/objects/Counter/card-1"
	for i, want := range []string{"5", "6"} {
		args := []string{"[5]", ""}[i]
		code, body := call(t, http.MethodPost, base+"/rpc/increment", []byte(args), nil)
		if code != 200 || string(body) != want {
			t.Fatalf("rpc increment %s = %d %s; want 200 %s", args, code, body, want)
		}
	}
	if code, body := call(t, http.MethodGet, base+"/some/path", nil, nil); code != 200 || string(body) != "/some/path 6" {
		t.Fatalf("fetch = %d %s", code, body)
	}
	// The object is reached by its name: it sees it as ctx.id.name, by
	// RPC and by fetch.
	if code, body := call(t, http.MethodPost, base+"/rpc/whoami", nil, nil); code != 200 || string(body) != `"card-1"` {
		t.Fatalf("rpc whoami = %d %s; want 200 \"card-1\"", code, body)
	}
	if code, body := call(t, http.MethodGet, url+"/_scripts/app/objects/Counter/card-5/id-name", nil, nil); code != 200 || string(body) != "card-5" {
		t.Fatalf("fetch of ctx.id.name = %d %s; want 200 card-5", code, body)
	}
	if code, body := call(t, http.MethodPost, base+"/rpc/reset", []byte("[]"), nil); code != 204 || len(body) != 0 {
		t.Fatalf("rpc reset = %d %s; want 204", code, body)
	}
	for _, tt := range []struct {
		path, body string
		code       int
		detail     string
	}{
		{"/rpc/fail", "[]", 500, "RangeError: no way"},
		{"/rpc/nope", "[]", 500, `TypeError: The RPC receiver does not implement the method "nope".`},
		{"/rpc/increment", `{"by":1}`, 400, "JSON array"},
	} {
		code, body := call(t, http.MethodPost, base+tt.path, []byte(tt.body), nil)
		var p struct{ Detail string }
		json.Unmarshal(body, &p)
		if code != tt.code || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s = %d %s; want %d %q", tt.path, code, body, tt.code, tt.detail)
		}
	}
	if code, _ := call(t, http.MethodPost, url+"/_scripts/app/objects/Nope/x/rpc/increment", nil, nil); code != 404 {
		t.Errorf("an unknown class answered %d, want 404", code)
	}
	if code, _ := call(t, http.MethodPost, url+"/_scripts/none/objects/Counter/x/rpc/increment", nil, nil); code != 404 {
		t.Errorf("an unknown script answered %d, want 404", code)
	}
}

// TestScriptObjectRPCIdempotencyKey: the RPC route takes an
// Idempotency-Key as the fetch routes do: a retry answers the first
// result and applies nothing again; the key reused for another RPC or
// for a fetch of the object is a 422; one over the key limit a 400; a
// call that throws keeps nothing under its key.
func TestScriptObjectRPCIdempotencyKey(t *testing.T) {
	url := counterAppNode(t)
	base := url + "/_scripts/app/objects/Counter/card-1"
	key := map[string]string{"Idempotency-Key": "k"}
	for i := 0; i < 2; i++ {
		if code, body := call(t, http.MethodPost, base+"/rpc/increment", []byte("[5]"), key); code != 200 || string(body) != "5" {
			t.Fatalf("keyed increment(5) #%d = %d %s; want 200 5", i+1, code, body)
		}
	}
	for _, tt := range []struct {
		method, path, body string
		header             map[string]string
		code               int
		detail             string
	}{
		{http.MethodPost, "/rpc/increment", "[6]", key, 422, "different request"},
		{http.MethodPost, "/rpc/whoami", "[5]", key, 422, "different request"},
		{http.MethodPost, "/rpc/increment", "[5]", map[string]string{"Idempotency-Key": strings.Repeat("k", 2049)}, 400, "Idempotency-Key"},
		{http.MethodPost, "/rpc/fail", "[]", map[string]string{"Idempotency-Key": "t"}, 500, "RangeError: no way"},
		{http.MethodPost, "/rpc/fail", "[]", map[string]string{"Idempotency-Key": "t"}, 500, "RangeError: no way"},
		{http.MethodPost, "/increment", "[5]", key, 422, "different request"},
	} {
		code, body := call(t, tt.method, base+tt.path, []byte(tt.body), tt.header)
		var p struct{ Detail string }
		json.Unmarshal(body, &p)
		if code != tt.code || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s %s = %d %s; want %d %q", tt.method, tt.path, code, body, tt.code, tt.detail)
		}
	}
	if code, body := call(t, http.MethodPost, base+"/rpc/increment", []byte("[1]"), map[string]string{"Idempotency-Key": "t"}); code != 200 || string(body) != "6" {
		t.Fatalf("increment(1) under the key of a throw = %d %s; want 200 6 (one increment of 5 before it)", code, body)
	}
	if code, body := call(t, http.MethodPost, base+"/rpc/reset", nil, map[string]string{"Idempotency-Key": "r"}); code != 204 || len(body) != 0 {
		t.Fatalf("keyed reset = %d %s; want 204", code, body)
	}
	if code, body := call(t, http.MethodPost, base+"/rpc/reset", []byte("[]"), map[string]string{"Idempotency-Key": "r"}); code != 204 || len(body) != 0 {
		t.Fatalf("keyed reset again = %d %s; want the first answer, 204", code, body)
	}
}
