package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

const testCounterV1 = `
export class Counter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    let value = (await this.ctx.storage.get("value")) ?? 0;
    if (url.pathname === "/increment") {
      value++;
      await this.ctx.storage.put("value", value);
    }
    if (url.pathname === "/throw") {
      await this.ctx.storage.put("value", -1);
      throw new Error("thrown after a write");
    }
    if (url.pathname === "/alarm") {
      await this.ctx.storage.setAlarm(Date.now() + 100);
    }
    return new Response(String(value), {status: 201, headers: {"X-Version": "1"}});
  }
  async alarm(info) {
    await this.ctx.storage.put("fired", ((await this.ctx.storage.get("fired")) ?? 0) + 1);
  }
}
`

// testCounterV2 answers differently, so a redeploy shows.
const testCounterV2 = `
export class Counter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const value = (await this.ctx.storage.get("value")) ?? 0;
    return new Response("v2:" + value);
  }
}
`

func deployTest(t testing.TB, n *testNode, source string) uint64 {
	t.Helper()
	if _, err := classes.Compile("Counter", []byte(source), classes.JavaScript); err != nil {
		t.Fatal(err)
	}
	v, err := n.host.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(source))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func callTest(t *testing.T, n *testNode, path, idem string) (*CallResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.host.Call(ctx, "Counter", "c1", &classes.Request{Method: http.MethodPost, URL: "http://x/" + path, Header: http.Header{}}, idem)
}

func classValue(n *testNode, key string) string {
	var v string
	n.FSM().Read(func(s *objects.Store) {
		if raw, ok := s.Get(fsm.ClassObject("Counter", "c1"), key); ok {
			v = string(raw)
		}
	})
	return v
}

// TestClassCallsOnTheLeader: a class call runs on the leader and commits
// before it answers; a retry with its key replays it; a call that writes
// nothing appends nothing; a throw commits nothing; a redeploy and a
// delete take effect for the next call and keep the storage. It runs in
// one leader's term (inOneTerm): the stats and the log it looks at are
// the leader's.
func TestClassCallsOnTheLeader(t *testing.T) {
	inOneTerm(t, classCallsOnTheLeader)
}

func classCallsOnTheLeader(t *testing.T, c *testCluster, leader *testNode) error {
	if _, err := callTest(t, leader, "increment", ""); !errors.Is(err, ErrClassNotFound) {
		return fmt.Errorf("call before deploy: %v, want ErrClassNotFound", err)
	}
	v1, err := leader.host.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(testCounterV1))
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if cl, ok := leader.Class("Counter"); !ok || cl.Version != v1 || cl.Lang != "js" {
		return fmt.Errorf("registered class = %+v %v, version %d", cl, ok, v1)
	}

	res, err := callTest(t, leader, "increment", "once")
	if err != nil || res.Response.Status != 201 || string(res.Response.Body) != "1" || res.Response.Header.Get("X-Version") != "1" || res.Replayed {
		return fmt.Errorf("first call = %+v %v", res, err)
	}
	if st := leader.host.Stats(); st.Instances != 1 || st.Runtimes != 1 || st.Calls != 1 {
		return fmt.Errorf("class stats after one call %+v, want one instance on one runtime", st)
	}
	// The write is committed before the answer: every replica gets it.
	if !c.poll(5*time.Second, func() bool {
		for _, n := range c.nodes {
			if classValue(n, "value") != "1" {
				return false
			}
		}
		return true
	}) {
		return errors.New("the call's write did not reach every node")
	}

	// A retry with the key answers the first response and runs nothing.
	again, err := callTest(t, leader, "increment", "once")
	if err != nil || !again.Replayed || string(again.Response.Body) != "1" || again.Index != res.Index || again.Response.Header.Get("X-Version") != "1" {
		return fmt.Errorf("retry = %+v %v, first index %d", again, err, res.Index)
	}
	if v := classValue(leader, "value"); v != "1" {
		return fmt.Errorf("value after the retry = %s", v)
	}

	// A call that writes nothing and has no key appends nothing to the
	// log.
	before := leader.FSM().LastApplied()
	read, err := callTest(t, leader, "", "")
	if err != nil || string(read.Response.Body) != "1" {
		return fmt.Errorf("read-only call = %+v %v", read, err)
	}
	if after := leader.FSM().LastApplied(); after != before {
		return fmt.Errorf("read-only call appended to the log: last index %d -> %d", before, after)
	}

	// A throw commits nothing, not even the writes before it.
	_, err = callTest(t, leader, "throw", "")
	var ce *CallError
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "thrown after a write") {
		return fmt.Errorf("throwing call: %v", err)
	}
	if v := classValue(leader, "value"); v != "1" {
		return fmt.Errorf("value after a throw = %s", v)
	}

	// A redeploy replaces the class for the next call; storage stays.
	if v2, err := leader.host.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(testCounterV2)); err != nil || v2 <= v1 {
		return fmt.Errorf("redeploy: version %d after %d, %v", v2, v1, err)
	}
	if res, err := callTest(t, leader, "", ""); err != nil || string(res.Response.Body) != "v2:1" {
		return fmt.Errorf("call after redeploy = %+v %v", res, err)
	}

	// Deleting the class keeps its storage.
	if found, err := leader.host.DeleteClass(context.Background(), "Counter"); err != nil || !found {
		return fmt.Errorf("delete = %v %v", found, err)
	}
	if _, err := callTest(t, leader, "", ""); !errors.Is(err, ErrClassNotFound) {
		return fmt.Errorf("call after delete: %v", err)
	}
	if v := classValue(leader, "value"); v != "1" {
		return fmt.Errorf("storage after delete = %q", v)
	}
	return nil
}

// TestClassAlarmFiresOnceOnTheLeader: an alarm set by a call is stored
// with the call's command, fires once on the leader and is cleared by
// its own command on every replica. It runs in one leader's term
// (inOneTerm).
func TestClassAlarmFiresOnceOnTheLeader(t *testing.T) {
	inOneTerm(t, classAlarmFiresOnce)
}

func classAlarmFiresOnce(t *testing.T, c *testCluster, leader *testNode) error {
	if _, err := leader.host.DeployClass(context.Background(), "Counter", classes.JavaScript, []byte(testCounterV1)); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	object := fsm.ClassObject("Counter", "c1")
	// The alarm is due 100 ms after the call: by the time the test looks,
	// it may have fired already, which it can only have done once stored.
	if _, err := callTest(t, leader, "alarm", ""); err != nil {
		return fmt.Errorf("the call that sets the alarm: %w", err)
	}
	if _, pending := leader.FSM().AlarmOf(object); !pending && classValue(leader, "fired") == "" {
		return errors.New("setAlarm did not reach the FSM with the call's command")
	}
	if !c.poll(10*time.Second, func() bool {
		_, pending := leader.FSM().AlarmOf(object)
		return classValue(leader, "fired") == "1" && !pending
	}) {
		return errors.New("the alarm did not fire and clear on the leader")
	}
	// Cleared by its own command, on every replica.
	if !c.poll(5*time.Second, func() bool {
		for _, n := range c.nodes {
			if _, pending := n.FSM().AlarmOf(object); pending || classValue(n, "fired") != "1" {
				return false
			}
		}
		return true
	}) {
		return errors.New("the alarm is not cleared, or did not fire once, on every node")
	}
	return nil
}

// testFlakyAlarm's alarm throws on its first run and records the
// retryCount of the run that succeeds.
const testFlakyAlarm = `
export class Counter {
  constructor(ctx) { this.ctx = ctx; }
  async fetch() {
    await this.ctx.storage.setAlarm(Date.now() + 50);
    return new Response("set");
  }
  async alarm(info) {
    if (info.retryCount === 0) throw new Error("the first run fails");
    await this.ctx.storage.put("retryCount", info.retryCount);
  }
}
`

// TestAlarmRetryCountSurvivesLeaderChange: a failed run of an alarm is
// committed, so the leader after a change runs it with the count the
// last one reached rather than from 0.
func TestAlarmRetryCountSurvivesLeaderChange(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployTest(t, leader, testFlakyAlarm)
	if _, err := callTest(t, leader, "", ""); err != nil {
		t.Fatal(err)
	}
	object := fsm.ClassObject("Counter", "c1")
	c.eventually(10*time.Second, "the first run's failure on every node", func() bool {
		for _, n := range c.nodes {
			due, _ := n.FSM().DueAlarms(1<<62, 10)
			if len(due) != 1 || due[0].Object != object || due[0].Retries != 1 {
				return false
			}
		}
		return true
	})
	// The old leader now waits out its 2 s backoff; a new one has none.
	if err := leader.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	next := c.waitLeader(map[string]bool{leader.id: true})
	c.eventually(10*time.Second, "the new leader's run to succeed", func() bool {
		return classValue(next, "retryCount") == "1"
	})
	// Had it started again from 0, its first run would have thrown.
	if st := next.host.Stats(); st.Failed != 0 || st.Calls != 1 {
		t.Fatalf("the new leader's engine: %+v, want one successful run", st)
	}
	if _, pending := next.FSM().AlarmOf(object); pending {
		t.Fatal("the alarm is still set after its successful run")
	}
}

func TestForwardedCallOutcomesRoundTrip(t *testing.T) {
	ok := &CallResult{Response: &classes.Response{Status: 202, Header: http.Header{"A": {"1", "2"}}, Body: []byte("b")}, Index: 9, Replayed: true}
	tests := []struct {
		name string
		err  error
		want error // nil: ok comes back
	}{
		{"ok", nil, nil},
		{"class not found", ErrClassNotFound, ErrClassNotFound},
		{"not leader is not applied", cluster.ErrNotLeader, cluster.ErrNotApplied},
		{"not applied", cluster.ErrNotApplied, cluster.ErrNotApplied},
		{"outcome unknown", cluster.ErrOutcomeUnknown, cluster.ErrOutcomeUnknown},
		{"key reused", fsm.ErrIdempotencyMismatch, fsm.ErrIdempotencyMismatch},
		{"table full", fsm.ErrIdempotencyFull, fsm.ErrIdempotencyFull},
		{"anything else is unknown", errors.New("surprise"), cluster.ErrOutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *CallResult
			if tt.err == nil {
				res = ok
			}
			got, err := callResultOf(res, tt.err).outcome()
			if tt.want == nil {
				if err != nil || got.Response.Status != 202 || got.Response.Header["A"][1] != "2" || string(got.Response.Body) != "b" || got.Index != 9 || !got.Replayed {
					t.Fatalf("round trip = %+v %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	_, err := callResultOf(nil, &CallError{Message: "boom"}).outcome()
	var ce *CallError
	if !errors.As(err, &ce) || ce.Message != "boom" {
		t.Fatalf("call error = %v", err)
	}
}

// TestClassCallKeyTiedToRequest: an Idempotency-Key reused for another
// call (method, path, query or body) is refused on the leader before the
// call runs, nothing committed, on the leader and through a follower; a
// retry of the same request through another node (another host in its
// URL) replays the first answer.
func TestClassCallKeyTiedToRequest(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployTest(t, leader, testCounterV1)
	first, err := callTest(t, leader, "increment", "k")
	if err != nil || string(first.Response.Body) != "1" {
		t.Fatalf("first call = %+v %v", first, err)
	}
	follower := c.follower(leader)
	runs := leader.host.Stats().Calls
	for _, n := range []*testNode{leader, follower} {
		if _, err := callTest(t, n, "increment?by=2", "k"); !errors.Is(err, fsm.ErrIdempotencyMismatch) {
			t.Fatalf("another request with the key via %s: %v, want fsm.ErrIdempotencyMismatch", n.id, err)
		}
	}
	if got := leader.host.Stats().Calls; got != runs {
		t.Fatalf("the refused calls ran: %d calls, was %d", got, runs)
	}
	if v := classValue(leader, "value"); v != "1" {
		t.Fatalf("value after refused calls = %s, want 1", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	retry, err := follower.host.Call(ctx, "Counter", "c1", &classes.Request{Method: http.MethodPost, URL: "http://other-node:8080/increment", Header: http.Header{}}, "k")
	if err != nil || !retry.Replayed || string(retry.Response.Body) != "1" || retry.Index != first.Index {
		t.Fatalf("retry via a follower = %+v %v, want the first answer replayed", retry, err)
	}
}

// TestClassDeployAndDeleteThroughAFollower: a follower's deploy and
// delete reach the leader as one request each, and the leader's reply
// (a classReply) brings back the version, whether the class was there,
// and a refusal as the error it is. A request the leader did not apply
// (it lost leadership meanwhile, under load) is sent again, as a client
// would.
func TestClassDeployAndDeleteThroughAFollower(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	follower := c.follower(leader)
	ctx := context.Background()
	untilApplied := func(f func() error) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := f()
			if !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var v uint64
	err := untilApplied(func() (err error) {
		v, err = follower.host.DeployClass(ctx, "Counter", classes.JavaScript, []byte(testCounterV1))
		return err
	})
	if err != nil || v == 0 {
		t.Fatalf("deploy via a follower = %d %v", v, err)
	}
	c.eventually(5*time.Second, "the class on the follower", func() bool {
		cl, ok := follower.Class("Counter")
		return ok && cl.Version == v
	})
	err = untilApplied(func() error {
		_, err := follower.host.DeployClass(ctx, "Broken", classes.JavaScript, []byte("export class {"))
		return err
	})
	if !errors.Is(err, objects.ErrInvalid) {
		t.Fatalf("deploy of a source that does not compile: %v, want objects.ErrInvalid", err)
	}
	for _, want := range []bool{true, false} {
		var found bool
		err := untilApplied(func() (err error) {
			found, err = follower.host.DeleteClass(ctx, "Counter")
			return err
		})
		if err != nil || found != want {
			t.Fatalf("delete via a follower = %v %v, want found %v", found, err, want)
		}
	}
}

// TestEngineConfigCarriesOutboundAllow: serve's --outbound-allow reaches
// the engine, whose fetch refuses every host without it.
func TestEngineConfigCarriesOutboundAllow(t *testing.T) {
	allow := []string{"api.example.com", "127.0.0.1:*"}
	c := Config{OutboundAllow: allow}
	c.setDefaults()
	if got := c.engineConfig().OutboundAllow; !slices.Equal(got, allow) {
		t.Fatalf("engine's OutboundAllow %v, want %v", got, allow)
	}
}
