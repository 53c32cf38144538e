package host

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// scriptValue is the "value" key of script app's Counter name on n.
func scriptValue(n *testNode, name string) string {
	id := objects.NewNamespace("app", "Counter").IDFromName(name).String()
	var v string
	n.FSM().Read(func(s *objects.Store) {
		raw, _ := s.Get(fsm.ClassObject(ScriptClass("app", "Counter"), id), "value")
		v = string(raw)
	})
	return v
}

// TestScriptClassRPCIdempotencyKey: an RPC with an Idempotency-Key is
// applied once and its result replayed to a retry with the key, through
// the leader, a follower, and a new leader; the key used for another
// RPC or for a fetch of the object is refused before anything runs.
func TestScriptClassRPCIdempotencyKey(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", scriptCounter, "app")
	follower := c.followerHolding(leader, "app", v)
	for _, n := range []*testNode{leader, leader, follower} {
		if got, err := rpcKeyTest(t, n, "app", "card-1", "increment", "[2]", "k"); err != nil || got != "2" {
			t.Fatalf("increment(2) with key k via %s = %q, %v; want the first answer, 2", n.id, got, err)
		}
	}
	if got := scriptValue(leader, "card-1"); got != "2" {
		t.Fatalf("value after three calls with one key = %s, want 2", got)
	}
	runs := leader.host.Stats().Calls
	for _, n := range []*testNode{leader, follower} {
		for _, other := range []struct{ method, args string }{{"increment", "[3]"}, {"whoami", "[2]"}} {
			if _, err := rpcKeyTest(t, n, "app", "card-1", other.method, other.args, "k"); !errors.Is(err, fsm.ErrIdempotencyMismatch) {
				t.Fatalf("%s(%s) with key k via %s: %v, want fsm.ErrIdempotencyMismatch", other.method, other.args, n.id, err)
			}
		}
		if _, err := rpcKeyTest(t, n, "app", "card-2", "increment", "[2]", "k"); err != nil {
			t.Fatalf("the key on another object via %s: %v", n.id, err)
		}
	}
	key := ScriptClass("app", "Counter")
	id := classes.StubID{ID: objects.NewNamespace("app", "Counter").IDFromName("card-1").String(), Name: "card-1"}
	req := &classes.Request{Method: http.MethodPost, URL: "http://x/rpc/increment", Header: http.Header{}, Body: []byte("[2]")}
	if _, err := follower.host.CallStub(context.Background(), key, id, req, "k"); !errors.Is(err, fsm.ErrIdempotencyMismatch) {
		t.Fatalf("a fetch with the RPC's key: %v, want fsm.ErrIdempotencyMismatch", err)
	}
	// One run: card-2's first increment (its retry replayed).
	if got := leader.host.Stats().Calls; got != runs+1 {
		t.Fatalf("the refused and replayed calls ran: %d runs, was %d", got, runs)
	}

	if err := leader.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	next := c.waitLeader(map[string]bool{leader.id: true})
	c.eventually(5*time.Second, "the old leader to know the new one", func() bool {
		id, _ := leader.LeaderPeer()
		return id == next.id
	})
	for _, n := range []*testNode{next, leader} {
		if got, err := rpcKeyTest(t, n, "app", "card-1", "increment", "[2]", "k"); err != nil || got != "2" {
			t.Fatalf("increment(2) with key k via %s after a leader change = %q, %v; want 2", n.id, got, err)
		}
	}
	if got := scriptValue(next, "card-1"); got != "2" {
		t.Fatalf("value after a leader change = %s, want 2", got)
	}
}

// TestScriptClassRPCKeyedThrow: a keyed RPC that throws commits nothing
// and leaves nothing under its key: a retry runs it again, and the key
// then serves another request.
func TestScriptClassRPCKeyedThrow(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	v := deployScript(t, c, leader, "app", scriptCounter, "app")
	follower := c.followerHolding(leader, "app", v)
	for i, n := range []*testNode{follower, leader} {
		runs := leader.host.Stats().Calls
		_, err := rpcKeyTest(t, n, "app", "card-1", "fail", "[]", "t")
		var ce *CallError
		if !errors.As(err, &ce) || ce.Message != "RangeError: no way" {
			t.Fatalf("fail #%d with key t via %s: %v; want its RangeError", i+1, n.id, err)
		}
		if got := leader.host.Stats().Calls; got != runs+1 {
			t.Fatalf("fail #%d did not run: %d runs, was %d", i+1, got, runs)
		}
	}
	if got := scriptValue(leader, "card-1"); got != "" {
		t.Fatalf("value after throws = %q, want none (fail's put is not committed)", got)
	}
	for _, n := range []*testNode{follower, leader} {
		if got, err := rpcKeyTest(t, n, "app", "card-1", "increment", "[5]", "t"); err != nil || got != "5" {
			t.Fatalf("another request under the thrown call's key via %s = %q, %v; want it run once, 5", n.id, got, err)
		}
	}
}

// TestScriptClassRPCKeyedStoresItsResult: a keyed RPC's result is kept
// with its command as a fetch's response is: 200 with the JSON, 204 for
// undefined; a replay of undefined is undefined, not JSON null.
func TestScriptClassRPCKeyedStoresItsResult(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployScript(t, c, leader, "app", scriptCounter, "app")
	id := objects.NewNamespace("app", "Counter").IDFromName("card-1").String()
	object := fsm.ClassObject(ScriptClass("app", "Counter"), id)
	for _, tt := range []struct {
		key, method, args string
		status            int
		body              string
	}{
		{"a", "increment", "[4]", http.StatusOK, "4"},
		{"b", "relay", `["card-2"]`, http.StatusOK, "[10,false]"},
		{"c", "nothing", "", http.StatusNoContent, ""},
	} {
		if _, err := rpcKeyTest(t, leader, "app", "card-1", tt.method, tt.args, tt.key); err != nil {
			t.Fatalf("%s: %v", tt.method, err)
		}
		first, err := leader.FSM().CheckCall(object, tt.key, fsm.RPCRequestHash(object, tt.method, []byte(tt.args)), time.Now().UnixNano())
		if err != nil || first == nil || first.Response.Status != tt.status || string(first.Response.Body) != tt.body {
			t.Fatalf("%s's kept answer = %+v, %v; want %d %s", tt.method, first, err, tt.status, tt.body)
		}
		if got, err := rpcKeyTest(t, leader, "app", "card-1", tt.method, tt.args, tt.key); err != nil || got != tt.body {
			t.Fatalf("%s replayed = %q, %v; want %q", tt.method, got, err, tt.body)
		}
	}
}
