package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
)

// scriptSQL is a script whose Counter is SQLite-backed: its rows take
// random() and datetime('now'), which must resolve alike everywhere.
const scriptSQL = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v INTEGER, r INTEGER, at TEXT)");
  }
  increment(by = 1) {
    this.sql.exec("INSERT INTO t (v, r, at) VALUES (?, random(), datetime('now'))", by);
    return this.sql.exec("SELECT sum(v) AS s FROM t").one().s;
  }
  total() { return this.sql.exec("SELECT coalesce(sum(v), 0) AS s FROM t").one().s; }
  fail() { this.sql.exec("INSERT INTO t (v) VALUES (1000)"); throw new RangeError("no way"); }
  big(n) {
    const s = "x".repeat(100000);
    for (let i = 0; i < n; i++) this.sql.exec("INSERT INTO t (v, at) VALUES (0, ?)", s);
    return n;
  }
  caught() {
    try { this.sql.exec("INSERT INTO nope VALUES (1)"); } catch (e) { return e.message; }
  }
  // relay writes, awaits another object (the gate is lent: the writes so
  // far are committed), and writes again in a new session.
  async relay(name) {
    this.sql.exec("INSERT INTO t (v) VALUES (10)");
    const other = await this.env.COUNTER.getByName(name).increment(5);
    this.sql.exec("INSERT INTO t (v) VALUES (?)", other);
    return this.total();
  }
  // untilEnded writes, reads until its session ends under it (the node
  // lost leadership), then writes again without catching what that throws.
  untilEnded() {
    this.sql.exec("INSERT INTO t (v) VALUES (1)");
    for (;;) { try { this.sql.exec("SELECT 1"); } catch (e) { break; } }
    this.sql.exec("INSERT INTO t (v) VALUES (1)");
  }
  async kv() {
    await this.ctx.storage.put("k", { a: 1 });
    return await this.ctx.storage.get("k");
  }
  async fetch(req) {
    return new Response(String(this.increment(Number(new URL(req.url).searchParams.get("by") || 1))));
  }
}
export default {};
`

// deploySQLScript deploys source as script name, its Counter created by
// new_sqlite_classes.
func deploySQLScript(t testing.TB, c *testCluster, n *testNode, name, source string) {
	t.Helper()
	put := &fsm.ScriptPut{Name: name, MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(source)}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}}}
	var err error
	c.eventually(10*time.Second, "a deploy", func() bool {
		_, err = n.DeployScript(context.Background(), put)
		return !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sqlObject is the FSM object of app's Counter named name.
func sqlObject(name string) string {
	return fsm.ClassObject(ScriptClass("app", "Counter"), objects.NewNamespace("app", "Counter").IDFromName(name).String())
}

// query runs a read-only query on object's database on n.
func query(t *testing.T, n *testNode, object, q string) [][]any {
	t.Helper()
	sess, err := n.FSM().SQL().BeginRead(object, sqlstore.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec(q)
	if err != nil {
		t.Fatalf("%s on %s: %v", q, n.id, err)
	}
	return res.Rows
}

// caughtUp waits until every node has applied what the leader has.
func (c *testCluster) caughtUp(leader *testNode) {
	c.t.Helper()
	index := leader.FSM().LastApplied()
	c.eventually(10*time.Second, "the followers caught up", func() bool {
		for _, n := range c.nodes {
			if n.FSM().LastApplied() < index {
				return false
			}
		}
		return true
	})
}

// TestSQLClassReplicates: an SQLite-backed object's calls, through the
// leader or a follower, write rows every node's database holds alike —
// random() and datetime('now') included — and the nodes' digests agree.
func TestSQLClassReplicates(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	follower := c.follower(leader)
	c.eventually(5*time.Second, "the script on the follower", func() bool {
		_, ok := follower.FSM().Script("app")
		return ok
	})
	for i, n := range []*testNode{leader, follower, leader} {
		got, err := rpcTest(t, n, "app", "c1", "increment", "[2]")
		if want := []string{"2", "4", "6"}[i]; err != nil || got != want {
			t.Fatalf("increment %d through %s = %s, %v; want %s", i, n.id, got, err, want)
		}
	}
	c.caughtUp(leader)
	object := sqlObject("c1")
	want := query(t, leader, object, "SELECT * FROM t ORDER BY id")
	if len(want) != 3 || want[0][3] == nil || want[0][2] == want[1][2] {
		t.Fatalf("leader's rows %v: want 3, with random values and times", want)
	}
	digest, err := leader.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if got := query(t, n, object, "SELECT * FROM t ORDER BY id"); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s holds %v, the leader %v", n.id, got, want)
		}
		if d, err := n.Digest(); err != nil || d.Digest != digest.Digest {
			t.Fatalf("%s's digest differs from the leader's (%v)", n.id, err)
		}
	}
	if v, err := rpcTest(t, leader, "app", "c1", "kv", "[]"); err != nil || v != `{"a":1}` {
		t.Fatalf("kv = %s, %v", v, err)
	}
	c.caughtUp(leader)
	for _, n := range c.nodes {
		if got := query(t, n, object, "SELECT count(*) FROM t"); got[0][0] != int64(3) {
			t.Fatalf("%s: %v rows", n.id, got)
		}
	}
}

// TestSQLClassThrowCommitsNothing: a call whose code throws after a
// write commits nothing, and leaves the object's database free for the
// next call; an SQL error the code catches is only an error.
func TestSQLClassThrowCommitsNothing(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	if _, err := rpcTest(t, leader, "app", "c1", "increment", "[1]"); err != nil {
		t.Fatal(err)
	}
	before := leader.FSM().LastApplied()
	if _, err := rpcTest(t, leader, "app", "c1", "fail", "[]"); err == nil || !strings.Contains(err.Error(), "no way") {
		t.Fatalf("fail: %v, want the RangeError", err)
	}
	if got := leader.FSM().LastApplied(); got != before {
		t.Fatalf("the failed call proposed something (applied %d, was %d)", got, before)
	}
	if _, err := rpcTest(t, leader, "app", "c1", "big", "[90]"); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("a call writing 9 MB: %v, want refused", err)
	}
	if got := leader.FSM().LastApplied(); got != before {
		t.Fatalf("the oversized call proposed something (applied %d, was %d)", got, before)
	}
	msg, err := rpcTest(t, leader, "app", "c1", "caught", "[]")
	if err != nil || !strings.Contains(msg, "no such table") {
		t.Fatalf("caught = %s, %v; want SQLite's message", msg, err)
	}
	if v, err := rpcTest(t, leader, "app", "c1", "total", "[]"); err != nil || v != "1" {
		t.Fatalf("total = %s, %v; want 1", v, err)
	}
}

// TestSQLClassReentrant: a call that awaits another object commits its
// writes before it lends its gate and writes again after, in a new
// session; both stretches are on every node.
func TestSQLClassReentrant(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	if v, err := rpcTest(t, leader, "app", "a", "relay", `["b"]`); err != nil || v != "15" {
		t.Fatalf("relay = %s, %v; want 15", v, err)
	}
	c.caughtUp(leader)
	for _, n := range c.nodes {
		if got := query(t, n, sqlObject("a"), "SELECT v FROM t ORDER BY id"); !reflect.DeepEqual(got, [][]any{{int64(10)}, {int64(5)}}) {
			t.Fatalf("%s: a holds %v", n.id, got)
		}
		if got := query(t, n, sqlObject("b"), "SELECT v FROM t"); !reflect.DeepEqual(got, [][]any{{int64(5)}}) {
			t.Fatalf("%s: b holds %v", n.id, got)
		}
	}
}

// TestSQLClassIdempotencyKey: a fetch retried with its Idempotency-Key
// gets the first answer, and its writes are applied once.
func TestSQLClassIdempotencyKey(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	key, ns, err := leader.host.ResolveScriptClass("app", "Counter")
	if err != nil {
		t.Fatal(err)
	}
	id := ns.IDFromName("c1").String()
	var bodies []string
	for range 2 {
		res, err := leader.host.Call(context.Background(), key, id, &classes.Request{Method: http.MethodPost, URL: "http://x/?by=7", Header: http.Header{}}, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(res.Response.Body))
	}
	if bodies[0] != "7" || bodies[1] != "7" {
		t.Fatalf("answers %v, want 7 twice", bodies)
	}
	if got := query(t, leader, sqlObject("c1"), "SELECT count(*) FROM t"); got[0][0] != int64(1) {
		t.Fatalf("%v rows, want 1", got[0][0])
	}
}

// TestSQLSessionEndsWithLeadership: a session open on a leader that
// loses leadership is ended (its call fails, nothing of it committed), so
// the new leader's commands for the object apply on the old leader at
// once instead of waiting for the call.
func TestSQLSessionEndsWithLeadership(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	if _, err := rpcTest(t, leader, "app", "c1", "increment", "[1]"); err != nil {
		t.Fatal(err)
	}
	object := sqlObject("c1")
	st := leader.host.newState(context.Background(), ScriptClass("app", "Counter"), object, leader.Term()).(*sqlState)
	sess := st.SQL()
	if _, err := sess.Exec("INSERT INTO t (v) VALUES (100)"); err != nil {
		t.Fatal(err)
	}
	if err := leader.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	next := c.waitLeader(map[string]bool{leader.id: true})
	if _, err := rpcTest(t, next, "app", "c1", "increment", "[2]"); err != nil {
		t.Fatal(err)
	}
	c.caughtUp(next) // the old leader applies the new leader's call
	if _, err := sess.Exec("INSERT INTO t (v) VALUES (100)"); !errors.Is(err, cluster.ErrNotApplied) {
		t.Fatalf("the old session still runs statements: %v", err)
	}
	if w, err := st.take(); w != nil || err == nil {
		t.Fatalf("the ended session hands over %v, %v", w, err)
	}
	// A run that began before the change begins no session after it.
	late := leader.host.newState(context.Background(), ScriptClass("app", "Counter"), object, st.term).(*sqlState)
	if _, err := late.SQL().Exec("SELECT 1"); !errors.Is(err, cluster.ErrNotApplied) {
		t.Fatalf("a session began on a node that no longer leads: %v", err)
	}
	late.end(nil)
	for _, n := range c.nodes {
		if got := query(t, n, object, "SELECT sum(v) FROM t"); got[0][0] != int64(3) {
			t.Fatalf("%s: sum %v, want 3", n.id, got[0][0])
		}
	}
}

// doubtingRaft is a fakeRaft whose first call with SQL writes has an
// unknown outcome (not applied, as an entry still in flight), and which
// records the kinds of the commands it is given.
type doubtingRaft struct {
	*fakeRaft
	mu       sync.Mutex
	kinds    []fsm.Kind
	doubted  bool
	failNext bool
}

func (d *doubtingRaft) Propose(ctx context.Context, cmd *fsm.Command) (any, uint64, error) {
	d.mu.Lock()
	d.kinds = append(d.kinds, cmd.Kind)
	unknown := cmd.Kind == fsm.KindCall && !d.doubted && d.failNext
	if unknown {
		d.doubted = true
	}
	d.mu.Unlock()
	if unknown {
		return nil, 0, fmt.Errorf("%w: leadership lost while committing", cluster.ErrOutcomeUnknown)
	}
	return d.fakeRaft.Propose(ctx, cmd)
}

// TestSQLSessionWaitsForAnUnknownCommit: after a call of an SQLite-backed
// object whose commit's outcome is unknown, the object's next session
// begins only after a no-op proposed after it is applied (so it sees
// that entry if it commits); other calls begin at once.
func TestSQLSessionWaitsForAnUnknownCommit(t *testing.T) {
	st, err := sqlstore.Open(sqlstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &doubtingRaft{fakeRaft: &fakeRaft{m: fsm.New(fsm.Options{SQL: st}), term: 2}}
	h := New(d, testHostConfig())
	defer h.Close()
	body, err := fsm.EncodeBody(&fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(scriptSQL)}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Propose(context.Background(), &fsm.Command{Kind: fsm.KindScriptPut, Body: body}); err != nil {
		t.Fatal(err)
	}
	call := func() error {
		id := classes.StubID{ID: objects.NewNamespace("app", "Counter").IDFromName("c1").String(), Name: "c1"}
		_, err := h.RPC(context.Background(), ScriptClass("app", "Counter"), id, "increment", []byte("[1]"), "")
		return err
	}
	if err := call(); err != nil { // no doubt: call, nothing before it
		t.Fatal(err)
	}
	d.mu.Lock()
	d.failNext, d.kinds = true, nil
	d.mu.Unlock()
	if err := call(); !errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("first call: %v, want the unknown outcome", err)
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if want := []fsm.Kind{fsm.KindCall, fsm.KindNoop, fsm.KindCall}; !reflect.DeepEqual(d.kinds, want) {
		t.Fatalf("proposed %v, want %v: the unknown call, a no-op, the next call", d.kinds, want)
	}
}

// TestSQLCallThrowingAtLeadershipLossIsNotApplied: code whose session
// ends under it with the leader's term, and which throws for that,
// committed nothing: the call is not applied (a 503 the client may
// resend), not the script's failure (a 500).
func TestSQLCallThrowingAtLeadershipLossIsNotApplied(t *testing.T) {
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	deploySQLScript(t, c, leader, "app", scriptSQL)
	if _, err := rpcTest(t, leader, "app", "c1", "increment", "[1]"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rpcTest(t, leader, "app", "c1", "untilEnded", "[]")
		done <- err
	}()
	c.eventually(10*time.Second, "the call's session open", func() bool {
		leader.host.sql.mu.Lock()
		defer leader.host.sql.mu.Unlock()
		return len(leader.host.sql.open) > 0
	})
	if err := leader.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var ce *CallError
	if !errors.Is(err, cluster.ErrNotApplied) || errors.As(err, &ce) {
		t.Fatalf("the call = %v, want not applied", err)
	}
	next := c.waitLeader(map[string]bool{leader.id: true})
	if _, err := rpcTest(t, next, "app", "c1", "increment", "[1]"); err != nil {
		t.Fatal(err)
	}
	c.caughtUp(next)
	for _, n := range c.nodes {
		if got := query(t, n, sqlObject("c1"), "SELECT sum(v) FROM t"); got[0][0] != int64(2) {
			t.Fatalf("%s: sum %v, want 2 (nothing of the ended call)", n.id, got[0][0])
		}
	}
}

// TestDeleteAllDeletesTheAlarmByCompatibilityDate: a script whose
// compatibility date is 2026-02-24 or later deletes its objects' alarms
// with deleteAll(), as Cloudflare's does; an older one keeps them.
func TestDeleteAllDeletesTheAlarmByCompatibilityDate(t *testing.T) {
	const source = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async arm() { await this.ctx.storage.setAlarm(4102444800000); }
  async wipe() { await this.ctx.storage.deleteAll(); return await this.ctx.storage.getAlarm(); }
  async alarm() {}
}
export default {};
`
	c := newSteadyCluster(t)
	leader := c.waitLeader(nil)
	for script, date := range map[string]string{"old": "2026-02-23", "new": "2026-02-24"} {
		put := &fsm.ScriptPut{Name: script, MainModule: "index.js", CompatibilityDate: date,
			Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(source)}},
			DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
			Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}}}
		var err error
		c.eventually(10*time.Second, "a deploy", func() bool {
			_, err = leader.DeployScript(context.Background(), put)
			return !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for script, want := range map[string]string{"old": "4102444800000", "new": "null"} {
		if _, err := rpcTest(t, leader, script, "c1", "arm", "[]"); err != nil {
			t.Fatal(err)
		}
		if got, err := rpcTest(t, leader, script, "c1", "wipe", "[]"); err != nil || got != want {
			t.Errorf("%s: the alarm after deleteAll() = %s, %v; want %s", script, got, err, want)
		}
	}
}
