package classes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

// engineOutbound routes stubs' RPCs back into the engine, each object
// with storage of its own: objects calling objects on one node.
type engineOutbound struct {
	e   *Engine
	ref ClassRef
	mu  sync.Mutex
	sts map[string]*fakeState
	// arrived, when set, hears each RPC's method as it reaches the
	// engine.
	arrived func(method string)
}

func (o *engineOutbound) state(id string) *fakeState {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sts[id] == nil {
		o.sts[id] = newFakeState(id)
	}
	return o.sts[id]
}

func (o *engineOutbound) RPC(ctx context.Context, b int, id StubID, method string, args []byte) (json.RawMessage, error) {
	o.mu.Lock()
	arrived := o.arrived
	o.mu.Unlock()
	if arrived != nil {
		arrived(method)
	}
	st := o.state(id.ID)
	ref := o.ref
	ref.IDName = id.Name // as the host does once it has checked the name
	res, err := o.e.RPC(ctx, ref, id.ID, method, args, st, st.apply)
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}

func (o *engineOutbound) Fetch(context.Context, int, StubID, *Request) (*Response, error) {
	return nil, ErrNeverSettled
}

func (o *engineOutbound) ServiceRPC(context.Context, int, string, []byte) (json.RawMessage, error) {
	return nil, ErrNeverSettled
}

func (o *engineOutbound) ServiceFetch(context.Context, int, *Request) (*Response, error) {
	return nil, ErrNeverSettled
}

const reentrantClass = `
import { DurableObject } from "cloudflare:workers";
export class Obj extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.named = String(ctx.id.name); }
  async callOther(other) {
    await this.ctx.storage.put("before", 1);
    const back = await this.env.NS.getByName(other).callBack(this.ctx.id.toString());
    return back + " after " + (await this.ctx.storage.get("before"));
  }
  async callBack(id) { return await this.env.NS.get(this.env.NS.idFromString(id)).hello(); }
  async hello() { await this.ctx.storage.put("helloed", true); return "hello"; }
  async waitValue() { const v = await new Promise((res) => { this.resolve = res; }); return "got " + v; }
  supply(v) { this.resolve(v); return "supplied"; }
  async fetch(request) { this.env.NS.getByName(new URL(request.url).pathname.slice(1)).hello(); return new Response("sent"); }
  fireAndForget(other) { this.env.NS.getByName(other).hello(); return "sent"; }
  // fireWhileBusy writes, calls other without awaiting it, and goes on
  // without yielding to the event loop (only resolved promises) until
  // the test marks "arrived" in its storage or a bound passes.
  async fireWhileBusy(other) {
    await this.ctx.storage.put("before", 2);
    this.env.NS.getByName(other).hello();
    const t = Date.now();
    while (!(await this.ctx.storage.get("arrived"))) {
      if (Date.now() - t > 10000) return "not arrived while busy";
    }
    return "arrived while busy";
  }
  whoami() { return [String(this.ctx.id.name), this.named, this.ctx.id.equals(this.env.NS.idFromName("b"))]; }
  async askOther(name, how) {
    const ns = this.env.NS;
    const id = how === "name" ? ns.idFromName(name) : ns.idFromString(ns.idFromName(name).toString());
    return await ns.get(id).whoami();
  }
  async writeAround(other) {
    await this.ctx.storage.put("before", 1);
    await this.env.NS.getByName(other).hello();
    await this.ctx.storage.put("after", 2);
    return "done";
  }
  async fetchOut(url) {
    await this.ctx.storage.put("before", 1);
    const r = await fetch(url);
    return (await r.text()) + " after " + (await this.ctx.storage.get("helloed"));
  }
}
`

func newReentrantEngine(t *testing.T) (*Engine, *engineOutbound, objects.Namespace) {
	return newReentrantEngineWith(t, Config{})
}

func newReentrantEngineWith(t *testing.T, cfg Config) (*Engine, *engineOutbound, objects.Namespace) {
	e := newTestEngine(t, cfg)
	ns := objects.NewNamespace("app", "Obj")
	out := &engineOutbound{e: e, sts: map[string]*fakeState{}}
	prog := mustCompile(t, "Obj", reentrantClass).WithBindings([]Namespace{{Name: "NS", NS: ns}}, nil, out)
	out.ref = ClassRef{Name: "app:Obj", Version: 1, Program: prog, Reentrant: true}
	return e, out, ns
}

// A → B → A completes: A's gate opens while it awaits B, after its
// writes so far are committed.
func TestReentrantCallBack(t *testing.T) {
	e, out, ns := newReentrantEngine(t)
	a := ns.IDFromName("a").String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := out.RPC(ctx, 0, StubID{ID: a}, "callOther", []byte(`["b"]`))
	if err != nil || string(res) != `"hello after 1"` {
		t.Fatalf("A → B → A = %s, %v", res, err)
	}
	st := out.state(a)
	if st.get("before") != "1" || st.get("helloed") != "true" {
		t.Fatalf("A's storage: before=%q helloed=%q", st.get("before"), st.get("helloed"))
	}
	if st.commits != 3 {
		t.Fatalf("A committed %d times; want 3 (callOther's write before the call out, hello's, callOther's end)", st.commits)
	}
	if n := e.Instances(); n != 2 {
		t.Fatalf("%d live instances after A → B → A; want A's and B's", n)
	}
}

// A request waiting for a value a later request to the same object
// supplies completes.
func TestReentrantWaitForLaterRequest(t *testing.T) {
	e, out, ns := newReentrantEngine(t)
	a := ns.IDFromName("a").String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		res, err := out.RPC(ctx, 0, StubID{ID: a}, "waitValue", nil)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(res)
	}()
	for e.Stats().Calls == 0 {
		time.Sleep(time.Millisecond) // polls until waitValue holds the gate
	}
	if res, err := out.RPC(ctx, 0, StubID{ID: a}, "supply", []byte(`[42]`)); err != nil || string(res) != `"supplied"` {
		t.Fatalf("supply = %s, %v", res, err)
	}
	if v := <-got; v != `"got 42"` {
		t.Fatalf("waitValue = %s", v)
	}
}

// A global fetch is outbound I/O like a stub's call: before it leaves,
// the writes so far are committed, and while it is out another request
// to the object runs.
func TestReentrantFetch(t *testing.T) {
	var out *engineOutbound
	var a string
	release := make(chan struct{})
	committed := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		committed <- out.state(a).get("before")
		<-release
		io.WriteString(w, "fetched")
	}))
	defer srv.Close()
	defer close(release)
	e, o, ns := newReentrantEngineWith(t, Config{OutboundAllow: []string{"127.0.0.1:*"}})
	out, a = o, ns.IDFromName("a").String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		res, err := out.RPC(ctx, 0, StubID{ID: a}, "fetchOut", []byte(`["`+srv.URL+`"]`))
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(res)
	}()
	if v := <-committed; v != "1" {
		t.Fatalf("the write before the fetch reads %q in storage as the fetch arrives; want it committed", v)
	}
	// The fetch is out and held: another request to the object runs now.
	if res, err := out.RPC(ctx, 0, StubID{ID: a}, "hello", nil); err != nil || string(res) != `"hello"` {
		t.Fatalf("hello while the fetch is out = %s, %v", res, err)
	}
	release <- struct{}{}
	if v := <-got; v != `"fetched after true"` {
		t.Fatalf("fetchOut = %s", v)
	}
	if n := e.Instances(); n != 1 {
		t.Fatalf("%d live instances; want A's", n)
	}
}

// An object reached through an id made from a name sees that name as
// ctx.id.name, in its constructor too; one reached through an id made
// otherwise does not, until a named call brings the name, which then
// stays.
func TestObjectSeesItsIDName(t *testing.T) {
	_, out, ns := newReentrantEngine(t)
	a := StubID{ID: ns.IDFromName("a").String()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ask := func(other, how, want string) {
		t.Helper()
		res, err := out.RPC(ctx, 0, a, "askOther", []byte(`["`+other+`","`+how+`"]`))
		if err != nil || string(res) != want {
			t.Fatalf("askOther(%s, %s) = %s, %v; want %s", other, how, res, err, want)
		}
	}
	ask("c", "string", `["undefined","undefined",false]`)
	ask("c", "name", `["c","undefined",false]`)   // built unnamed, named since
	ask("c", "string", `["c","undefined",false]`) // the name stays
	ask("b", "name", `["b","b",true]`)
	if res, err := out.RPC(ctx, 0, a, "whoami", nil); err != nil || string(res) != `["undefined","undefined",false]` {
		t.Fatalf("a called without a name: whoami = %s, %v", res, err)
	}
}

// An object's stub call that it does not await leaves at once, not at
// its next await, and still only once the writes before it are
// committed (the output gate); one made just before the call returns
// runs too.
func TestUnawaitedStubCallStartsPromptly(t *testing.T) {
	_, out, ns := newReentrantEngine(t)
	a, b := ns.IDFromName("a").String(), ns.IDFromName("b").String()
	committed := make(chan string, 1)
	out.arrived = func(method string) {
		if method == "hello" {
			committed <- out.state(a).get("before")
			out.state(a).load("arrived", "true") // what A's loop looks for
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := out.RPC(ctx, 0, StubID{ID: a}, "fireWhileBusy", []byte(`["b"]`))
	if err != nil || string(res) != `"arrived while busy"` {
		t.Fatalf("fireWhileBusy = %s, %v", res, err)
	}
	if v := <-committed; v != "2" {
		t.Fatalf("A's write before the call reads %q as the call arrives; want it committed", v)
	}
	out.mu.Lock()
	out.arrived = nil
	out.mu.Unlock()
	res, err = out.RPC(ctx, 0, StubID{ID: a}, "fireAndForget", []byte(`["c"]`))
	if err != nil || string(res) != `"sent"` {
		t.Fatalf("fireAndForget = %s, %v", res, err)
	}
	// A fetch keeps its gate and commits once: the call leaves after
	// that commit, and runs although the fetch returned.
	st := out.state(a)
	resp, err := out.e.Call(ctx, out.ref, a, &Request{Method: "GET", URL: "http://do/d", Header: http.Header{}}, st,
		func(e Effects, _ *Response) error { return st.apply(e) })
	if err != nil || string(resp.Body) != "sent" {
		t.Fatalf("fetch = %v, %v", resp, err)
	}
	for _, name := range []string{"c", "d"} {
		other := out.state(ns.IDFromName(name).String())
		deadline := time.Now().Add(10 * time.Second)
		for other.get("helloed") != "true" && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polls for the call A did not await
		}
		if other.get("helloed") != "true" {
			t.Fatalf("the call A made to %s without awaiting it never ran", name)
		}
	}
	_ = b
}

// A call out whose writes before it fail to commit never leaves, and the
// RPC fails with the commit's error.
func TestCallOutAfterAFailedCommit(t *testing.T) {
	_, out, ns := newReentrantEngine(t)
	a := ns.IDFromName("a").String()
	var calls atomic.Int64
	out.arrived = func(string) { calls.Add(1) }
	boom := errors.New("the commit failed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := out.e.RPC(ctx, out.ref, a, "fireWhileBusy", []byte(`["b"]`), out.state(a), func(Effects) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("fireWhileBusy with a failing commit: %v; want the commit's error", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls left after the failed commit", n)
	}
}

// RPCOnce commits once, with its result, where RPC commits the writes
// before an await of another object on their own.
func TestRPCOnceCommitsOnceWithItsResult(t *testing.T) {
	_, out, ns := newReentrantEngine(t)
	a := ns.IDFromName("a").String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type commit struct {
		ops    int
		result string
	}
	var commits []commit
	record := func(eff Effects, res *RPCResult) error {
		c := commit{ops: len(eff.Ops), result: "none"}
		if res != nil {
			c.result = string(res.Value)
		}
		commits = append(commits, c)
		return out.state(a).apply(eff)
	}
	res, err := out.e.RPCOnce(ctx, out.ref, a, "writeAround", []byte(`["b"]`), out.state(a), record)
	if err != nil || string(res.Value) != `"done"` {
		t.Fatalf("RPCOnce writeAround = %+v, %v", res, err)
	}
	if want := []commit{{2, `"done"`}}; !reflect.DeepEqual(commits, want) {
		t.Fatalf("RPCOnce's commits %+v; want %+v", commits, want)
	}
	commits = nil
	if _, err := out.e.RPC(ctx, out.ref, a, "writeAround", []byte(`["b"]`), out.state(a),
		func(eff Effects) error { return record(eff, nil) }); err != nil {
		t.Fatal(err)
	}
	if want := []commit{{1, "none"}, {1, "none"}}; !reflect.DeepEqual(commits, want) {
		t.Fatalf("RPC's commits %+v; want %+v", commits, want)
	}
}
