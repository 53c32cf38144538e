package classes

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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
}

func (o *engineOutbound) state(id string) *fakeState {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sts[id] == nil {
		o.sts[id] = newFakeState(id)
	}
	return o.sts[id]
}

func (o *engineOutbound) RPC(ctx context.Context, b int, id, method string, args []byte) (json.RawMessage, error) {
	st := o.state(id)
	res, err := o.e.RPC(ctx, o.ref, id, method, args, st, st.apply)
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}

func (o *engineOutbound) Fetch(context.Context, int, string, *Request) (*Response, error) {
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
  async callOther(other) {
    await this.ctx.storage.put("before", 1);
    const back = await this.env.NS.getByName(other).callBack(this.ctx.id.toString());
    return back + " after " + (await this.ctx.storage.get("before"));
  }
  async callBack(id) { return await this.env.NS.get(this.env.NS.idFromString(id)).hello(); }
  async hello() { await this.ctx.storage.put("helloed", true); return "hello"; }
  async waitValue() { const v = await new Promise((res) => { this.resolve = res; }); return "got " + v; }
  supply(v) { this.resolve(v); return "supplied"; }
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
	res, err := out.RPC(ctx, 0, a, "callOther", []byte(`["b"]`))
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
		res, err := out.RPC(ctx, 0, a, "waitValue", nil)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(res)
	}()
	for e.Stats().Calls == 0 {
		time.Sleep(time.Millisecond) // polls until waitValue holds the gate
	}
	if res, err := out.RPC(ctx, 0, a, "supply", []byte(`[42]`)); err != nil || string(res) != `"supplied"` {
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
		res, err := out.RPC(ctx, 0, a, "fetchOut", []byte(`["`+srv.URL+`"]`))
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
	if res, err := out.RPC(ctx, 0, a, "hello", nil); err != nil || string(res) != `"hello"` {
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
