package classes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

// fakeOutbound answers stubs' calls: increment counts per object id,
// boom throws a RangeError, fetch echoes.
type fakeOutbound struct {
	mu     sync.Mutex
	counts map[string]int
	calls  []string
	names  []string // the stubs' ids' names, "" for none
	svc    *Worker  // the service binding's Worker
}

func (f *fakeOutbound) ServiceRPC(ctx context.Context, s int, method string, args []byte) (json.RawMessage, error) {
	return f.svc.RPC(ctx, method, args)
}

func (f *fakeOutbound) ServiceFetch(ctx context.Context, s int, req *Request) (*Response, error) {
	return f.svc.Fetch(ctx, req, json.RawMessage(`{}`))
}

func (f *fakeOutbound) RPC(_ context.Context, b int, id StubID, method string, args []byte) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method+" "+string(args))
	f.names = append(f.names, id.Name)
	switch method {
	case "increment":
		f.counts[id.ID]++
		b, _ := json.Marshal(f.counts[id.ID])
		return b, nil
	case "boom":
		return nil, &ScriptError{Name: "RangeError", Message: "RangeError: too far"}
	case "nothing":
		return nil, nil
	}
	return nil, noMethod(method)
}

func (f *fakeOutbound) Fetch(_ context.Context, b int, id StubID, req *Request) (*Response, error) {
	f.mu.Lock()
	f.names = append(f.names, id.Name)
	f.mu.Unlock()
	return &Response{Status: 201, Header: http.Header{"X-Id": {id.ID}}, Body: []byte(req.Method + " " + req.URL + " " + string(req.Body))}, nil
}

const workerApp = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const stub = env.COUNTER.get(env.COUNTER.idFromName(url.pathname.slice(1)));
    if (url.pathname === "/ids") {
      const a = env.COUNTER.idFromName("x"), b = env.COUNTER.idFromString(a.toString());
      const u = env.COUNTER.newUniqueId();
      return Response.json({ a: a.toString(), name: a.name, eq: a.equals(b), u: u.toString().length, cf: request.cf.colo, greet: env.GREET });
    }
    if (url.pathname === "/boom") {
      try { await stub.boom(); } catch (e) { return new Response(e.name + "|" + e.message + "|" + (e instanceof RangeError)); }
    }
    if (url.pathname === "/missing") {
      try { await stub.nope(1); } catch (e) { return new Response(e.name + "|" + e.message); }
    }
    if (url.pathname === "/fetch") {
      const r = await stub.fetch("http://do/x", { method: "POST", body: "hi" });
      return new Response(r.status + " " + r.headers.get("x-id").length + " " + await r.text());
    }
    if (url.pathname === "/names") {
      const ns = env.COUNTER, named = ns.idFromName("x");
      await ns.get(ns.newUniqueId()).nothing();
      await ns.get(ns.idFromString(named.toString())).nothing();
      await ns.get(named).nothing();
      await ns.getByName("y").nothing();
      await ns.getByName("z").fetch("http://do/");
      return new Response("ok");
    }
    if (url.pathname === "/throw") throw new TypeError("worker broke");
    let done = false;
    ctx.waitUntil(new Promise((res) => setTimeout(() => { done = true; res(); }, 1)));
    const n = await stub.increment({ by: new Map([[1, 2]]) });
    const m = await env.COUNTER.getByName(url.pathname.slice(1)).increment();
    return new Response(String(n) + "," + String(m) + "," + String(await stub.nothing()));
  },
};
`

func newTestWorker(t *testing.T, src string, out Outbound) *Worker {
	t.Helper()
	w, err := NewWorker(Config{}, WorkerConfig{Name: "app", Source: []byte(src), Env: []byte(`{"GREET":"hi"}`),
		Namespaces: []Namespace{{Name: "COUNTER", NS: objects.NewNamespace("app", "Counter")}}, Outbound: out})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func workerGet(t *testing.T, w *Worker, path string) (*Response, error) {
	t.Helper()
	return w.Fetch(context.Background(), &Request{Method: "GET", URL: "http://app.example" + path, Header: http.Header{}},
		json.RawMessage(`{"colo":"dobj"}`))
}

func TestWorkerStubsAndEnv(t *testing.T) {
	out := &fakeOutbound{counts: map[string]int{}}
	w := newTestWorker(t, workerApp, out)
	ns := objects.NewNamespace("app", "Counter")
	resp, err := workerGet(t, w, "/card-1")
	if err != nil || string(resp.Body) != "1,2,undefined" {
		t.Fatalf("increment through stubs = %v, %v", resp, err)
	}
	if id := ns.IDFromName("card-1").String(); out.counts[id] != 2 {
		t.Fatalf("counts %v: want 2 for card-1's id %s", out.counts, id)
	}
	if out.calls[0] != `increment [{"by":{"$map":[[1,2]]}}]` {
		t.Fatalf("the first RPC's arguments went as %q", out.calls[0])
	}
	resp, err = workerGet(t, w, "/ids")
	var ids struct {
		A, Name, Cf, Greet string
		Eq                 bool
		U                  int
	}
	if err != nil || json.Unmarshal(resp.Body, &ids) != nil {
		t.Fatalf("/ids = %v, %v", resp, err)
	}
	if ids.A != ns.IDFromName("x").String() || ids.Name != "x" || !ids.Eq || ids.U != 64 || ids.Cf != "dobj" || ids.Greet != "hi" {
		t.Fatalf("/ids = %s", resp.Body)
	}
	for path, want := range map[string]string{
		"/boom":    "RangeError|too far|true",
		"/missing": `TypeError|The RPC receiver does not implement the method "nope".`,
		"/fetch":   "201 64 POST http://do/x hi",
	} {
		resp, err := workerGet(t, w, path)
		if err != nil || string(resp.Body) != want {
			t.Errorf("%s = %v, %v; want %q", path, resp, err, want)
		}
	}
	_, err = workerGet(t, w, "/throw")
	var se *ScriptError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "worker broke") {
		t.Fatalf("a Worker that throws: %v", err)
	}
}

func TestWorkerEntrypointClass(t *testing.T) {
	w := newTestWorker(t, `
import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  async fetch(request) { return new Response(this.env.GREET + " " + request.method); }
}`, &fakeOutbound{})
	resp, err := workerGet(t, w, "/")
	if err != nil || string(resp.Body) != "hi GET" {
		t.Fatalf("WorkerEntrypoint fetch = %v, %v", resp, err)
	}
}

// A service binding calls another Worker: fetch, RPC to its default
// export's methods and to a WorkerEntrypoint class's.
func TestWorkerServiceBindings(t *testing.T) {
	for _, svc := range []string{
		`export default {
  fetch(request) { return new Response("svc " + request.method + " " + new URL(request.url).pathname); },
  async add(a, b) { return a + b; },
  fail() { throw new RangeError("bad sum"); },
};`,
		`import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  fetch(request) { return new Response("svc " + request.method + " " + new URL(request.url).pathname); }
  async add(a, b) { return a + b + (this.env.ZERO ?? 0); }
  fail() { throw new RangeError("bad sum"); }
}`,
	} {
		sw, err := NewWorker(Config{}, WorkerConfig{Name: "auth", Source: []byte(svc), Env: []byte(`{"ZERO":0}`)})
		if err != nil {
			t.Fatal(err)
		}
		out := &fakeOutbound{svc: sw}
		w, err := NewWorker(Config{}, WorkerConfig{Name: "app", Services: []string{"AUTH"}, Outbound: out, Source: []byte(`
export default {
  async fetch(request, env) {
    const r = await env.AUTH.fetch("http://auth/check", { method: "POST", body: "x" });
    let failed;
    try { await env.AUTH.fail(); } catch (e) { failed = e.name + ": " + e.message; }
    let missing;
    try { await env.AUTH.nope(); } catch (e) { missing = e.name; }
    return new Response([await r.text(), await env.AUTH.add(2, 3), failed, missing].join("|"));
  },
};`)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := workerGet(t, w, "/")
		if want := "svc POST /check|5|RangeError: bad sum|TypeError"; err != nil || string(resp.Body) != want {
			t.Fatalf("service binding = %v, %v; want %q", resp, err, want)
		}
	}
}

// A stub call the Worker does not await still goes out.
func TestWorkerUnawaitedStubCallGoesOut(t *testing.T) {
	out := &fakeOutbound{counts: map[string]int{}}
	w := newTestWorker(t, `
export default {
  fetch(request, env) {
    env.COUNTER.getByName("x").increment();
    return new Response("sent");
  },
};`, out)
	if resp, err := workerGet(t, w, "/"); err != nil || string(resp.Body) != "sent" {
		t.Fatalf("fetch = %v, %v", resp, err)
	}
	id := objects.NewNamespace("app", "Counter").IDFromName("x").String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out.mu.Lock()
		n := out.counts[id]
		out.mu.Unlock()
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the unawaited increment never reached the object")
		}
		time.Sleep(time.Millisecond)
	}
}

// blockingOutbound holds every RPC until release is closed, counting
// those that arrived.
type blockingOutbound struct {
	fakeOutbound
	arrived atomic.Int32
	release chan struct{}
}

func (b *blockingOutbound) RPC(ctx context.Context, _ int, _ StubID, _ string, _ []byte) (json.RawMessage, error) {
	b.arrived.Add(1)
	select {
	case <-b.release:
		return json.RawMessage("7"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Worker requests awaiting stub calls give up their runtime's turn: on
// one runtime, n of them are in flight at once, each with its own call
// state.
func TestWorkerRequestsShareRuntimeWhileAwaiting(t *testing.T) {
	const n = 8
	out := &blockingOutbound{release: make(chan struct{})}
	w, err := NewWorker(Config{RuntimesPerClass: 1}, WorkerConfig{Name: "app", Source: []byte(`
export default {
  async fetch(request, env) {
    const mine = new URL(request.url).pathname;
    const v = await env.COUNTER.getByName(mine).increment();
    return new Response(mine + "=" + v);
  },
};`), Namespaces: []Namespace{{Name: "COUNTER", NS: objects.NewNamespace("app", "Counter")}}, Outbound: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bodies := make(chan string, n)
	for i := range n {
		go func() {
			resp, err := w.Fetch(ctx, &Request{Method: "GET", URL: fmt.Sprintf("http://app.example/r%d", i), Header: http.Header{}}, json.RawMessage(`{}`))
			if err != nil {
				bodies <- err.Error()
				return
			}
			bodies <- string(resp.Body)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for out.arrived.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := out.arrived.Load()
	close(out.release)
	if got < n {
		t.Fatalf("%d of %d requests reached their stub call on one runtime", got, n)
	}
	seen := map[string]bool{}
	for range n {
		seen[<-bodies] = true
	}
	for i := range n {
		if want := fmt.Sprintf("/r%d=7", i); !seen[want] {
			t.Errorf("no response %q among %v", want, seen)
		}
	}
	if b := w.Runtimes(); b != 1 {
		t.Errorf("the Worker built %d runtimes, want 1", b)
	}
}

// A stub of an id made from a name sends the name with its calls; one
// of an id made otherwise sends none.
func TestWorkerStubsSendIDName(t *testing.T) {
	out := &fakeOutbound{counts: map[string]int{}}
	w := newTestWorker(t, workerApp, out)
	if resp, err := workerGet(t, w, "/names"); err != nil || string(resp.Body) != "ok" {
		t.Fatalf("/names = %v, %v", resp, err)
	}
	if got := strings.Join(out.names, ","); got != ",,x,y,z" {
		t.Fatalf("names sent %q; want \",,x,y,z\"", got)
	}
}

// TestWorkerIdsAndStubsShareTheirFunctions: ids keep their methods on a
// prototype, stubs share connect, get(id) keeps this namespace's own id,
// and request.cf is a getter of Request.prototype: a request makes no
// functions for them but a stub's own fetch and RPC (it made a dozen).
func TestWorkerIdsAndStubsShareTheirFunctions(t *testing.T) {
	w := newTestWorker(t, `
export class Counter {}
export default {
  async fetch(request, env) {
    const a = env.COUNTER.idFromName("a"), b = env.COUNTER.idFromName("b");
    const s = env.COUNTER.get(a), u = env.COUNTER.get(b);
    const foreign = { toString: () => a.toString(), name: "a" };
    const f = env.COUNTER.get(foreign);
    return Response.json({
      sameMethods: a.toString === b.toString && a.equals === b.equals,
      keepsId: s.id === a && f.id !== foreign && f.id.equals(a) && f.id.name === "a",
      sharedConnect: s.connect === u.connect,
      cfOnProto: !Object.keys(request).includes("cf") && new Request("http://x/").cf === undefined,
      frozen: Object.isFrozen(a), keys: Object.keys(a),
      cfOnce: request.cf === request.cf && request.cf.colo,
    });
  },
};`, &fakeOutbound{counts: map[string]int{}})
	resp, err := workerGet(t, w, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sameMethods":true,"keepsId":true,"sharedConnect":true,"cfOnProto":true,"frozen":true,"keys":["name"],"cfOnce":"dobj"}`
	if string(resp.Body) != want {
		t.Fatalf("got  %s\nwant %s", resp.Body, want)
	}
}

// TestWorkerRequestAllocations bounds what one request of dobj bench's
// worker-increment allocates (BenchmarkWorkerIncrement's): it was about
// 605 allocations before request.cf was parsed only when read and ids,
// stubs and ctx stopped making functions per request, about 430 after;
// 411 before request.cf became a getter of Request.prototype, 393 after.
func TestWorkerRequestAllocations(t *testing.T) {
	out := &fakeOutbound{counts: map[string]int{}}
	w := newTestWorker(t, benchWorkerApp, out)
	req := &Request{Method: "POST", URL: "http://127.0.0.1:8787/bench-1/increment", Header: http.Header{"Content-Length": {"0"}}}
	cf := json.RawMessage(`{"asn":0,"clientIp":"127.0.0.1","colo":"dobj","country":"XX","httpProtocol":"HTTP/1.1"}`)
	fetch := func() {
		if resp, err := w.Fetch(context.Background(), req, cf); err != nil || resp.Status != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
	}
	fetch() // the runtime is built
	if n := testing.AllocsPerRun(50, fetch); n > 400 {
		t.Errorf("a Worker increment allocates %.0f times, want at most 400", n)
	}
}
