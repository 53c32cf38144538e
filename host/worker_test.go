package host

import (
	"context"
	"errors"
	"fmt"
	"github.com/dobj/dobj/cluster"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
)

const workerScript = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment() {
    const v = ((await this.ctx.storage.get("value")) || 0) + 1;
    await this.ctx.storage.put("value", v);
    return v;
  }
  idName() { return String(this.ctx.id.name); }
  async fetch(request) {
    if (new URL(request.url).pathname === "/id-name") return new Response(String(this.ctx.id.name));
    return new Response("value " + ((await this.ctx.storage.get("value")) || 0));
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.COUNTER.getByName(url.pathname.split("/")[1]);
    if (url.pathname.endsWith("/increment")) return Response.json({ value: await stub.increment(), label: env.LABEL });
    if (url.pathname.endsWith("/fail")) await stub.nope();
    if (url.pathname.endsWith("/id-name")) {
      const fetched = await (await stub.fetch("http://do/id-name")).text();
      const unique = await env.COUNTER.get(env.COUNTER.newUniqueId()).idName();
      return new Response([await stub.idName(), fetched, unique].join(" "));
    }
    return stub.fetch(request);
  },
};
`

func workerGetTest(t *testing.T, n *testNode, path string) (*classes.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.host.ServeWorker(ctx, "app", &classes.Request{Method: http.MethodPost, URL: "http://w.example" + path, Header: http.Header{}},
		[]byte(`{"colo":"dobj"}`))
}

func TestWorkerRunsOnEveryNode(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", workerScript, "L")
	follower := c.followerHolding(leader, "app", v)
	for i, n := range []*testNode{follower, leader, follower} {
		resp, err := workerGetTest(t, n, "/card-1/increment")
		want := []string{`{"value":1,"label":"L"}`, `{"value":2,"label":"L"}`, `{"value":3,"label":"L"}`}[i]
		if err != nil || string(resp.Body) != want {
			t.Fatalf("increment #%d via %s = %v, %v; want %s", i+1, n.id, resp, err, want)
		}
	}
	if resp, err := workerGetTest(t, follower, "/card-1/"); err != nil || string(resp.Body) != "value 3" {
		t.Fatalf("stub.fetch = %v, %v", resp, err)
	}
	// An object reached through getByName sees its name, by RPC and by
	// fetch; one reached through newUniqueId has none.
	for _, n := range []*testNode{follower, leader} {
		if resp, err := workerGetTest(t, n, "/card-9/id-name"); err != nil || string(resp.Body) != "card-9 card-9 undefined" {
			t.Fatalf("ctx.id.name via %s = %v, %v", n.id, resp, err)
		}
	}
	_, err := workerGetTest(t, follower, "/card-1/fail")
	var ce *CallError
	if !errors.As(err, &ce) || ce.Message != `TypeError: The RPC receiver does not implement the method "nope".` {
		t.Fatalf("a Worker that throws: %v", err)
	}
	// A redeploy is run by the new version's Worker.
	v2 := deployScript(t, c, leader, "app", workerScript, "L2")
	c.eventually(5*time.Second, "the redeploy on the follower", func() bool {
		s, _ := follower.Script("app")
		return s.Version == v2
	})
	if resp, err := workerGetTest(t, follower, "/card-1/increment"); err != nil || string(resp.Body) != `{"value":4,"label":"L2"}` {
		t.Fatalf("after a redeploy = %v, %v", resp, err)
	}
	if s, err := leader.host.RouteWorker(context.Background(), "any.example", "/"); err != nil || s != "app" {
		t.Fatalf("the only script's route = %q, %v", s, err)
	}
	vo := deployScript(t, c, leader, "other", workerScript, "O")
	// The deploy returns once applied on the leader it reached, which
	// may no longer be this node after an election.
	c.eventually(5*time.Second, "the second script on the node routing", func() bool {
		s, ok := leader.Script("other")
		return ok && s.Version == vo
	})
	if _, err := leader.host.RouteWorker(context.Background(), "any.example", "/"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("two scripts without routes: %v, want ErrNoRoute", err)
	}
}

func TestRouteMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, host, path string
		custom, want        bool
	}{
		{"example.com/*", "example.com", "/a/b", false, true},
		{"example.com/*", "other.com", "/a", false, false},
		{"*.example.com/api/*", "x.example.com", "/api/1", false, true},
		{"*.example.com/api/*", "x.example.com", "/web", false, false},
		{"shop.example.com", "shop.example.com", "/any", true, true},
		{"example.com/", "example.com", "/", false, true},
	} {
		if got := routeMatches(fsm.Route{Pattern: tt.pattern, CustomDomain: tt.custom}, tt.host, tt.path); got != tt.want {
			t.Errorf("%s against %s%s = %v", tt.pattern, tt.host, tt.path, got)
		}
	}
}

func TestStubCallsRetryOnlyWhatDidNotRun(t *testing.T) {
	calls := 0
	err := retryNotApplied(context.Background(), func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("%w: electing", cluster.ErrNotApplied)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("not applied twice: %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	err = retryNotApplied(context.Background(), func() error {
		calls++
		return fmt.Errorf("%w: lost", cluster.ErrOutcomeUnknown)
	})
	if !errors.Is(err, cluster.ErrOutcomeUnknown) || calls != 1 {
		t.Fatalf("an unknown outcome: %v after %d calls, want it at once", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := retryNotApplied(ctx, func() error { return cluster.ErrNotLeader }); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("with its context ended: %v", err)
	}
}

// A Worker calls another script's Worker through a service binding, on
// the node that received the request: its default export, or the
// WorkerEntrypoint class exported under the binding's entrypoint.
func TestWorkerServiceBinding(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deploy := func(put *fsm.ScriptPut) {
		c.eventually(10*time.Second, "a deploy", func() bool {
			_, err := leader.DeployScript(context.Background(), put)
			if err != nil && !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader) {
				t.Fatal(err)
			}
			return err == nil
		})
	}
	deploy(&fsm.ScriptPut{Name: "auth", MainModule: "index.js", Modules: []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(`
import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  fetch(request) { return new Response("auth " + new URL(request.url).pathname); }
  check(token) { if (token !== "ok") throw new RangeError("bad token"); return { user: "ada" }; }
}
export class Api extends WorkerEntrypoint {
  fetch() { return new Response("api fetch"); }
  whoami() { return "api"; }
}
export const notAClass = { whoami() { return "object"; } };`)}}})
	deploy(&fsm.ScriptPut{Name: "app", MainModule: "index.js", Services: []fsm.ServiceBinding{{Name: "AUTH", Service: "auth"},
		{Name: "API", Service: "auth", Entrypoint: "Api"}, {Name: "BAD", Service: "auth", Entrypoint: "notAClass"}},
		Modules: []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(`
export default {
  async fetch(request, env) {
    const who = await env.AUTH.check("ok");
    let refused;
    try { await env.AUTH.check("no"); } catch (e) { refused = e.name + ": " + e.message; }
    const r = await env.AUTH.fetch("http://auth/login");
    const api = await env.API.whoami() + " " + await (await env.API.fetch("http://auth/")).text();
    let bad;
    try { await env.BAD.whoami(); } catch (e) { bad = e.name; }
    return new Response(who.user + "|" + refused + "|" + await r.text() + "|" + api + "|" + bad);
  },
};`)}}})
	resp, err := workerGetTest(t, leader, "/")
	if want := "ada|RangeError: bad token|auth /login|api api fetch|TypeError"; err != nil || string(resp.Body) != want {
		t.Fatalf("service binding = %v, %v; want %q", resp, err, want)
	}
}

// A Worker's global fetch reaches the hosts --outbound-allow allows (the
// Worker's engine gets them too), and a Response whose body is a stream
// is read whole.
func TestWorkerOutboundFetch(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.Method)
	}))
	defer up.Close()
	hcfg := testHostConfig()
	hcfg.OutboundAllow = []string{"127.0.0.1:*"}
	c := newTestClusterWith(t, hcfg)
	leader := c.waitLeader(nil)
	deployScript(t, c, leader, "app", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export default {
  async fetch() {
    const r = await fetch("`+up.URL+`/x", { method: "PUT" });
    return new Response(r.body, { status: 203 });
  },
};
`, "L")
	resp, err := workerGetTest(t, leader, "/")
	if err != nil || resp.Status != 203 || string(resp.Body) != "upstream PUT" {
		t.Fatalf("a Worker's fetch = %+v, %v; want 203 upstream PUT", resp, err)
	}
}

// A node that has not yet applied a deploy its client was told of (a
// follower behind the leader) catches up before it answers that no
// Worker serves the request.
func TestRouteWorkerCatchesUpBeforeNoRoute(t *testing.T) {
	f := newFakeRaft(2)
	h := New(f, testHostConfig())
	t.Cleanup(func() { h.Close() })
	if _, err := h.RouteWorker(context.Background(), "w.example", "/"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("no script: %v, want ErrNoRoute", err)
	}
	put := &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(workerScript)}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewClasses: []string{"Counter"}}}}
	body, err := fsm.EncodeBody(put)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp := false
	f.catchUp = func() {
		caughtUp = true
		if _, _, err := f.Propose(context.Background(), &fsm.Command{Kind: fsm.KindScriptPut, Body: body}); err != nil {
			t.Error(err)
		}
	}
	if s, err := h.RouteWorker(context.Background(), "w.example", "/"); err != nil || s != "app" || !caughtUp {
		t.Fatalf("route after a deploy not yet applied here = %q, %v (caught up %v), want app", s, err, caughtUp)
	}
}
