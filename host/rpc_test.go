package host

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

const scriptCounter = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(by = 1) {
    const v = ((await this.ctx.storage.get("value")) || 0) + by;
    await this.ctx.storage.put("value", v);
    return v;
  }
  whoami() { return [this.ctx.id.toString(), this.env.LABEL]; }
  async nothing() { await this.ctx.storage.delete("none"); }
  async fail() { await this.ctx.storage.put("value", -1); throw new RangeError("no way"); }
  // relay calls another object through env, as a Worker would.
  async relay(name) {
    await this.ctx.storage.put("relayed", name);
    const stub = this.env.COUNTER.get(this.env.COUNTER.idFromName(name));
    return [await stub.increment(10), this.ctx.id.equals(stub.id)];
  }
  // bounce calls name, which calls this object back (A → B → A).
  async bounce(name) {
    return await this.env.COUNTER.getByName(name).relayTo(this.ctx.id.toString());
  }
  async relayTo(id) {
    return await this.env.COUNTER.get(this.env.COUNTER.idFromString(id)).increment(100);
  }
}
export default { fetch() { return new Response("worker"); } };
`

// deployScript deploys source as script name with class Counter and the
// var LABEL, retrying while the cluster elects.
func deployScript(t testing.TB, c *testCluster, n *testNode, name, source, label string) uint64 {
	t.Helper()
	put := &fsm.ScriptPut{Name: name, MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(source)}},
		Vars:           []fsm.Var{{Name: "LABEL", JSON: []byte(`"` + label + `"`)}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewClasses: []string{"Counter"}}}}
	var d cluster.ScriptDeploy
	var err error
	c.eventually(10*time.Second, "a deploy", func() bool {
		d, err = n.DeployScript(context.Background(), put)
		return !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader)
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.Version
}

// followerHolding returns a follower of leader once it holds version v
// of script.
func (c *testCluster) followerHolding(leader *testNode, script string, v uint64) *testNode {
	c.t.Helper()
	f := c.follower(leader)
	c.eventually(5*time.Second, "the script on the follower", func() bool {
		s, ok := f.Script(script)
		return ok && s.Version == v
	})
	return f
}

// rpcTest calls method of script's Counter name through its name, as the
// operator's route does.
func rpcTest(t *testing.T, n *testNode, script, name, method, args string) (string, error) {
	t.Helper()
	return rpcKeyTest(t, n, script, name, method, args, "")
}

// rpcKeyTest is rpcTest with an Idempotency-Key (none: "").
func rpcKeyTest(t *testing.T, n *testNode, script, name, method, args, idemKey string) (string, error) {
	t.Helper()
	key, ns, err := n.host.ResolveScriptClass(script, "Counter")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.host.RPC(ctx, key, classes.StubID{ID: ns.IDFromName(name).String(), Name: name}, method, []byte(args), idemKey)
	if err != nil {
		return "", err
	}
	return string(res.Value), nil
}

func TestScriptClassRPC(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", scriptCounter, "app")
	deployScript(t, c, leader, "other", scriptCounter, "other")
	follower := c.follower(leader)
	c.eventually(5*time.Second, "the scripts on the follower", func() bool {
		s, ok := follower.Script("other")
		return ok && s.Version > v
	})

	for i, n := range []*testNode{leader, follower, leader} {
		got, err := rpcTest(t, n, "app", "card-1", "increment", "[2]")
		if want := []string{"2", "4", "6"}[i]; err != nil || got != want {
			t.Fatalf("increment(2) #%d via %s = %q, %v; want %s", i+1, n.id, got, err, want)
		}
	}
	// Another script's Counter is another class: its card-1 is new.
	if got, err := rpcTest(t, follower, "other", "card-1", "increment", "[]"); err != nil || got != "1" {
		t.Fatalf("other script's increment = %q, %v; want 1", got, err)
	}
	ns := objects.NewNamespace("app", "Counter")
	id := ns.IDFromName("card-1").String()
	var stored string
	leader.FSM().Read(func(s *objects.Store) {
		raw, _ := s.Get(fsm.ClassPrefix+"app:Counter/"+id, "value")
		stored = string(raw)
	})
	if stored != "6" {
		t.Fatalf("_do/app:Counter/<id> holds value %q, want 6", stored)
	}
	if got, err := rpcTest(t, follower, "app", "card-1", "whoami", "[]"); err != nil || got != `["`+id+`","app"]` {
		t.Fatalf("whoami = %s, %v; want the id's hex and the script's var", got, err)
	}
	// An object calls another through its env (A → B).
	for i, n := range []*testNode{follower, leader} {
		if got, err := rpcTest(t, n, "app", "card-1", "relay", `["card-2"]`); err != nil || got != []string{"[10,false]", "[20,false]"}[i] {
			t.Fatalf("relay #%d via %s = %s, %v", i+1, n.id, got, err)
		}
	}
	if got, err := rpcTest(t, leader, "app", "card-2", "increment", "[0]"); err != nil || got != "20" {
		t.Fatalf("card-2 after two relays = %s, %v; want 20", got, err)
	}
	// A → B → A does not deadlock: A's gate opens while it awaits B.
	if got, err := rpcTest(t, follower, "app", "card-1", "bounce", `["card-3"]`); err != nil || got != "106" {
		t.Fatalf("card-1 → card-3 → card-1 = %s, %v; want 106", got, err)
	}
}

func TestScriptClassRPCErrorsCrossTheStream(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", scriptCounter, "app")
	follower := c.followerHolding(leader, "app", v)
	for _, n := range []*testNode{leader, follower} {
		for _, tt := range []struct{ method, name, msg string }{
			{"fail", "RangeError", "RangeError: no way"},
			{"nope", "TypeError", `TypeError: The RPC receiver does not implement the method "nope".`},
		} {
			_, err := rpcTest(t, n, "app", "card-1", tt.method, "[]")
			var ce *CallError
			var se *classes.ScriptError
			if !errors.As(err, &ce) || !errors.As(err, &se) || se.Name != tt.name || ce.Message != tt.msg {
				t.Fatalf("%s via %s: %#v; want a CallError of %s %q", tt.method, n.id, err, tt.name, tt.msg)
			}
		}
	}
	if got, err := rpcTest(t, follower, "app", "card-1", "increment", "[]"); err != nil || got != "1" {
		t.Fatalf("after a throw, increment = %q, %v; want 1 (nothing of fail committed)", got, err)
	}
	if _, err := rpcTest(t, follower, "app", "card-1", "increment", "[]"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := follower.host.ResolveScriptClass("app", "Nope"); !errors.Is(err, ErrClassNotFound) {
		t.Fatalf("unknown class: %v", err)
	}
}

// The leader decodes every call frame as a namedCall: a fetch frame as
// /2 wrote it (golden) reads with RPC false and its fields intact, an
// RPC frame holds one field more, a named call's two more.
func TestForwardedRPCFrameReadsOldFrames(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("..", "testdata", "frames", "v2-stream-request-call.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	var frame struct {
		ID uint64              `msgpack:"id"`
		W  *msgpack.RawMessage `msgpack:"w"`
		C  msgpack.RawMessage  `msgpack:"c"`
	}
	if err := msgpack.Unmarshal(golden, &frame); err != nil {
		t.Fatal(err)
	}
	var got namedCall
	if err := decodeCall(frame.C, &got); err != nil {
		t.Fatal(err)
	}
	want := namedCall{Class: "Counter", Name: "c1", Method: "POST", URL: "http://dobj/do/Counter/c1/increment?by=2",
		Header: []wireHeader{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("2"), IdemKey: "k-2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the golden fetch frame reads as %+v", got)
	}
	for _, c := range []namedCall{
		{Class: "app:Counter", Name: "ab", Method: "increment", Body: []byte("[1]"), RPC: true},
		{Class: "app:Counter", Name: "ab", Method: "increment", Body: []byte("[1]"), RPC: true, IDName: "card-1"},
		{Class: "app:Counter", Name: "ab", Method: "GET", URL: "http://do/", IDName: "card-1"},
		{Class: "app:Counter", Name: "ab", Method: "GET", URL: "http://do/"},
	} {
		b, err := c.frame()
		if err != nil {
			t.Fatal(err)
		}
		var back namedCall
		if err := decodeCall(b, &back); err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%+v reads back as %+v, %v", c, back, err)
		}
	}
}

// An object reached through a name sees it as ctx.id.name, from a
// follower too and from another object; one reached through a unique id
// sees none; a name that does not derive the id is refused before
// anything runs.
func TestScriptObjectSeesItsIDName(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async myName() { await this.ctx.storage.put("asked", true); return String(this.ctx.id.name); }
  async nameOf(name) { return await this.env.COUNTER.getByName(name).myName(); }
  async uniqueName() { return await this.env.COUNTER.get(this.env.COUNTER.newUniqueId()).myName(); }
}
export default {};
`, "app")
	follower := c.followerHolding(leader, "app", v)
	key, ns, err := leader.host.ResolveScriptClass("app", "Counter")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{leader, follower} {
		for _, tt := range []struct{ name, method, args, want string }{
			{"card-1", "myName", "[]", `"card-1"`},
			{"card-2", "nameOf", `["card-3"]`, `"card-3"`},
			{"card-2", "uniqueName", "[]", `"undefined"`},
		} {
			if got, err := rpcTest(t, n, "app", tt.name, tt.method, tt.args); err != nil || got != tt.want {
				t.Fatalf("%s.%s via %s = %s, %v; want %s", tt.name, tt.method, n.id, got, err, tt.want)
			}
		}
		forged := classes.StubID{ID: ns.IDFromName("card-4").String(), Name: "card-1"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := n.host.RPC(ctx, key, forged, "myName", nil, "")
		if !errors.Is(err, objects.ErrInvalid) {
			t.Fatalf("a forged name via %s: %v; want ErrInvalid", n.id, err)
		}
		_, err = n.host.CallStub(ctx, key, forged, &classes.Request{Method: "GET", URL: "http://do/", Header: http.Header{}}, "")
		cancel()
		if !errors.Is(err, objects.ErrInvalid) {
			t.Fatalf("a forged name's fetch via %s: %v; want ErrInvalid", n.id, err)
		}
	}
	leader.FSM().Read(func(s *objects.Store) {
		if _, ok := s.Get(fsm.ClassObject(key, ns.IDFromName("card-4").String()), "asked"); ok {
			t.Fatal("an object ran for a forged name")
		}
	})
}

// A script object's alarm fires on the leader as a /_classes object's
// does: its storage name leads the scheduler to the script's class.
func TestScriptClassAlarm(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployScript(t, c, leader, "app", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async arm() { await this.ctx.storage.setAlarm(Date.now() + 20); }
  async alarm() { await this.ctx.storage.put("fired", this.ctx.id.toString()); }
}
export default {};
`, "app")
	if _, err := rpcTest(t, leader, "app", "card-1", "arm", "[]"); err != nil {
		t.Fatal(err)
	}
	id := objects.NewNamespace("app", "Counter").IDFromName("card-1").String()
	object := fsm.ClassObject(ScriptClass("app", "Counter"), id)
	c.eventually(10*time.Second, "the script object's alarm fired", func() bool {
		var fired string
		leader.FSM().Read(func(s *objects.Store) {
			raw, _ := s.Get(object, "fired")
			fired = string(raw)
		})
		_, pending := leader.FSM().AlarmOf(object)
		return fired == `"`+id+`"` && !pending
	})
}

// oldLeaderFollower is a follower whose leader was built before named
// calls: it reads frames as that build did (a fetch's seven fields, else
// an RPC's eight), refusing any other as not applied before anything
// runs, and answers what it read.
type oldLeaderFollower struct {
	*fakeRaft
	mu  sync.Mutex
	ran []forwardedRPC
}

func (f *oldLeaderFollower) IsLeader() bool { return false }
func (f *oldLeaderFollower) LeaderPeer() (string, raft.ServerAddress) {
	return "old", "127.0.0.1:1"
}

func (f *oldLeaderFollower) StreamCall(_ context.Context, _ string, _ raft.ServerAddress, call []byte) ([]byte, error) {
	var fr forwardedRPC
	res := forwardedCallResult{Code: objects.CodeOK, Status: 204}
	if n, _ := msgpack.NewDecoder(bytes.NewReader(call)).DecodeArrayLen(); n == fetchFrameFields {
		var c forwardedCall
		msgpack.Unmarshal(call, &c)
		fr = forwardedRPC{Class: c.Class, Name: c.Name, Method: c.Method}
	} else if err := msgpack.Unmarshal(call, &fr); err != nil {
		res = forwardedCallResult{Code: codeNotApplied, Msg: "not applied: bad forwarded call: " + err.Error()}
	}
	if res.Code == objects.CodeOK {
		f.mu.Lock()
		f.ran = append(f.ran, fr)
		f.mu.Unlock()
	}
	return encodeFrame(&res)
}

// A named call to a leader built before names runs there once, without
// the name, rather than being refused.
func TestNamedCallToAnOlderLeader(t *testing.T) {
	f := &oldLeaderFollower{fakeRaft: newFakeRaft(2)}
	h := New(f, testHostConfig())
	t.Cleanup(func() { h.Close() })
	id := classes.StubID{ID: objects.NewNamespace("app", "Counter").IDFromName("card-1").String(), Name: "card-1"}
	if _, err := h.RPC(context.Background(), "app:Counter", id, "increment", []byte("[]"), ""); err != nil {
		t.Fatalf("RPC: %v", err)
	}
	if _, err := h.CallStub(context.Background(), "app:Counter", id, &classes.Request{Method: "GET", URL: "http://do/", Header: http.Header{}}, ""); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	want := []forwardedRPC{{Class: "app:Counter", Name: id.ID, Method: "increment", Body: []byte("[]"), RPC: true},
		{Class: "app:Counter", Name: id.ID, Method: "GET"}}
	if !reflect.DeepEqual(f.ran, want) {
		t.Fatalf("the older leader ran %+v; want %+v", f.ran, want)
	}
}
