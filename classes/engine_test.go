package classes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// seqClass reads n, awaits a timer, writes n+1: interleaved calls would
// lose increments.
const seqClass = `
export class Seq {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(request) {
    const n = (await this.ctx.storage.get("n")) ?? 0;
    await new Promise((r) => setTimeout(r, 1));
    await this.ctx.storage.put("n", n + 1);
    return Response.json(n + 1);
  }
}`

// TestInputGateOrdering: 200 concurrent calls to one object, each reading,
// awaiting a timer and writing, end at exactly 200 — and each saw the
// previous one's committed write.
func TestInputGateOrdering(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "Seq", Version: 1, Program: mustCompile(t, "Seq", seqClass)}
	st := newFakeState("seq")
	const calls = 200
	got := make([]int, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			resp, err := do(t, e, ref, "seq", st, "POST", "/", "")
			if err != nil {
				t.Error(err)
				return
			}
			if err := json.Unmarshal(resp.Body, &got[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v := st.get("n"); v != fmt.Sprint(calls) {
		t.Fatalf("n = %s after %d calls, want %d", v, calls, calls)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("responses %v are not 1..%d", got, calls)
		}
	}
}

// TestGateIsFIFO: calls that queue on a busy object get it in the order
// they arrived.
func TestGateIsFIFO(t *testing.T) {
	var ss slots
	ss.init(10, func(*instance) {})
	key := slotKey{"C", "o"}
	first, _, _, err := ss.acquire(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, _, _, err := ss.acquire(context.Background(), key)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			ss.release(s, nil, false)
		})
		waitFor(t, func() bool { // waiter i is queued before i+1 starts
			ss.mu.Lock()
			defer ss.mu.Unlock()
			return len(ss.byKey[key].waiters) == i+1
		})
	}
	ss.release(first, nil, false)
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("gate order %v, want 0..%d", order, n-1)
		}
	}
	if len(ss.byKey) != 0 {
		t.Fatalf("%d slots left after every call", len(ss.byKey))
	}
}

// TestGateWaiterCancelled: a queued call whose context ends leaves the
// queue; the others still run in order.
func TestGateWaiterCancelled(t *testing.T) {
	var ss slots
	ss.init(10, func(*instance) {})
	key := slotKey{"C", "o"}
	first, _, _, _ := ss.acquire(context.Background(), key)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, _, err := ss.acquire(ctx, key)
		errc <- err
	}()
	waitFor(t, func() bool {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return len(ss.byKey[key].waiters) == 1
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	ss.release(first, nil, false)
	s, _, _, err := ss.acquire(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	ss.release(s, nil, false)
}

// gatedState is a State whose first Get waits for a signal.
type gatedState struct {
	*fakeState
	once    sync.Once
	reached chan struct{}
	open    chan struct{}
}

func (g *gatedState) Get(key string) (json.RawMessage, bool) {
	g.once.Do(func() {
		close(g.reached)
		<-g.open
	})
	return g.fakeState.Get(key)
}

// TestObjectsRunInParallel: while one object's call is stuck inside a
// storage read, another object's calls complete.
func TestObjectsRunInParallel(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "Seq", Version: 1, Program: mustCompile(t, "Seq", seqClass)}
	a := &gatedState{fakeState: newFakeState("a"), reached: make(chan struct{}), open: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := e.Call(context.Background(), ref, "a", &Request{Method: "POST", URL: "http://h/"}, a, a.commit)
		done <- err
	}()
	<-a.reached // a's call holds a's gate, inside State.Get
	b := newFakeState("b")
	for range 5 {
		mustDo(t, e, ref, "b", b, "POST", "/", "")
	}
	if b.get("n") != "5" {
		t.Fatalf("b = %s, want 5", b.get("n"))
	}
	close(a.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.get("n") != "1" {
		t.Fatalf("a = %s, want 1", a.get("n"))
	}
}

const limitsClass = `
function deep(n) { return deep(n + 1) + 1; }
export class L {
  constructor(ctx) { this.ctx = ctx; this.calls = 0; }
  async fetch(request) {
    this.calls++;
    switch (new URL(request.url).pathname) {
    case "/loop": for (;;) {}
    case "/loop-after-await": await null; for (;;) {}
    case "/loop-in-timer": await new Promise((r) => setTimeout(() => { for (;;) {} }, 1)); break;
    case "/deep": deep(0); break;
    case "/catch-deep": try { deep(0) } catch (e) { return new Response("caught") } break;
    case "/repeat": "x".repeat(1e8); break;
    case "/big-response": return new Response("x".repeat(2 << 20));
    case "/big-value": await this.ctx.storage.put("v", "x".repeat(1e6)); break;
    case "/grown-value": { let s = "x".repeat(1 << 20); while (s.length < 16 << 20) s += s; await this.ctx.storage.put("v", s); break; }
    case "/grown-response": { let s = "x".repeat(1 << 20); while (s.length < 16 << 20) s += s; return new Response(s); }
    case "/hoard": { const a = []; for (;;) a.push({i: a.length}); }
    case "/never": await new Promise(() => {}); break;
    case "/sleep": await new Promise((r) => setTimeout(r, 60000)); break;
    case "/throw": await this.ctx.storage.put("t", 1); throw new Error("boom");
    case "/throw-string": throw "plain";
    case "/reject": return Promise.reject(new TypeError("rejected"));
    case "/not-response": return {status: 200};
    case "/bad-status": { const r = new Response("x"); r.status = 1000; return r; }
    case "/bad-header": { const r = new Response("x"); r.headers._m.set("bad name", "v"); return r; }
    case "/bad-header-value": { const r = new Response("x"); r.headers._m.set("x", "a\r\nInjected: 1"); return r; }
    case "/big-headers": { const r = new Response("x"); for (let i = 0; i < 100; i++) r.headers.set("x-" + i, "v".repeat(20000)); return r; }
    }
    return Response.json({calls: this.calls});
  }
}`

// TestLimits: each limit is a clear error; the object works again after.
func TestLimits(t *testing.T) {
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	tests := []struct {
		path string
		want error  // errors.Is
		msg  string // or a ScriptError containing this
	}{
		{"/loop", ErrCPULimit, ""},
		{"/loop-after-await", ErrCPULimit, ""},
		{"/loop-in-timer", ErrCPULimit, ""},
		{"/deep", ErrStackOverflow, ""},
		{"/repeat", ErrStringTooLarge, "would build a string of 100000000"},
		{"/big-response", ErrResponseTooLarge, ""},
		{"/big-value", ErrValueTooLarge, "value too large"},
		{"/grown-value", ErrValueTooLarge, "value too large"},
		{"/grown-response", ErrResponseTooLarge, ""},
		{"/never", ErrNeverSettled, ""},
		{"/throw", nil, "boom"},
		{"/throw-string", nil, "plain"},
		{"/reject", nil, "TypeError: rejected"},
		{"/not-response", nil, "did not return a Response"},
		{"/bad-status", nil, "status 1000 is not in the range"},
		{"/bad-header", nil, "invalid header"},
		{"/bad-header-value", nil, "invalid header"},
		{"/big-headers", ErrResponseTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			limit := 30 * time.Second // slow built-ins under -race on a busy machine must not hit it
			if errors.Is(tt.want, ErrCPULimit) {
				limit = 100 * time.Millisecond
			}
			e := newTestEngine(t, Config{CPULimit: limit, MaxStackDepth: 500})
			st := newFakeState("o")
			mustDo(t, e, ref, "o", st, "GET", "/", "") // a live instance
			_, err := do(t, e, ref, "o", st, "GET", tt.path, "")
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.msg != "" && !strings.Contains(scriptMessage(t, err), tt.msg) {
				t.Fatalf("error %v, want a ScriptError with %q", err, tt.msg)
			}
			if st.commits != 1 { // only the first call's (empty) commit
				t.Fatalf("%d commits, want 1: a failed call committed", st.commits)
			}
			// The instance was dropped: the next call builds a new one.
			if got := mustDo(t, e, ref, "o", st, "GET", "/", ""); got != `{"calls":1}` {
				t.Fatalf("after the error: %s, want a fresh instance", got)
			}
		})
	}
}

// TestMemoryLimit: a loop that keeps what it allocates is stopped by the
// heap's growth long before the CPU limit, and the other objects go on.
func TestMemoryLimit(t *testing.T) {
	e := newTestEngine(t, Config{CPULimit: time.Minute, MaxHeapGrowth: 32 << 20})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	done := make(chan error, 1)
	go func() {
		_, err := do(t, e, ref, "hoarder", newFakeState("hoarder"), "GET", "/hoard", "")
		done <- err
	}()
	other := newFakeState("other")
	mustDo(t, e, ref, "other", other, "GET", "/", "")
	if err := <-done; !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("error %v, want ErrMemoryLimit", err)
	}
	if got := mustDo(t, e, ref, "other", other, "GET", "/", ""); got != `{"calls":2}` {
		t.Fatalf("the other object after: %s", got)
	}
}

// TestStackOverflowIsNotCatchable documents goja: a too-deep stack ends the
// call even inside try.
func TestStackOverflowIsNotCatchable(t *testing.T) {
	e := newTestEngine(t, Config{MaxStackDepth: 200})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	_, err := do(t, e, ref, "o", newFakeState("o"), "GET", "/catch-deep", "")
	if !errors.Is(err, ErrStackOverflow) {
		t.Fatalf("error %v, want ErrStackOverflow", err)
	}
}

// TestCPULimitSparesOtherObjects: an infinite loop is stopped while
// another object's calls keep succeeding, on the same engine.
func TestCPULimitSparesOtherObjects(t *testing.T) {
	e := newTestEngine(t, Config{CPULimit: 300 * time.Millisecond})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	loopErr := make(chan error, 2)
	for _, path := range []string{"/loop", "/repeat"} {
		go func() {
			_, err := do(t, e, ref, "spin", newFakeState("spin"), "GET", path, "")
			loopErr <- err
		}()
	}
	other := newFakeState("other")
	for i := range 20 {
		if got := mustDo(t, e, ref, "other", other, "GET", "/", ""); got != fmt.Sprintf(`{"calls":%d}`, i+1) {
			t.Fatalf("call %d: %s", i, got)
		}
	}
	for range 2 {
		if err := <-loopErr; !errors.Is(err, ErrCPULimit) && !errors.Is(err, ErrStringTooLarge) {
			t.Fatalf("loop: %v", err)
		}
	}
	s := e.Stats()
	if s.Calls != 22 || s.Failed != 2 || s.CPULimited != 1 || s.Built != 3 || s.Instances != 1 || s.CPUTime < 300*time.Millisecond {
		t.Fatalf("stats %+v, want 22 calls, 2 failed, 1 over the CPU limit, 3 built, 1 live, CPU time >= the limit", s)
	}
}

// TestCommitFailure: commit's error comes back as is, the Response is not
// returned and the instance is dropped.
func TestCommitFailure(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	st := newFakeState("o")
	mustDo(t, e, ref, "o", st, "GET", "/", "")
	errLost := errors.New("leadership lost")
	resp, err := e.Call(context.Background(), ref, "o", &Request{Method: "GET", URL: "http://h/"}, st,
		func(Effects, *Response) error { return errLost })
	if err != errLost || resp != nil {
		t.Fatalf("Call = %v, %v; want nil, commit's error", resp, err)
	}
	if got := mustDo(t, e, ref, "o", st, "GET", "/", ""); got != `{"calls":1}` {
		t.Fatalf("after a failed commit: %s, want a fresh instance", got)
	}
}

// TestInstanceLifecycle: an instance lives across calls, and is rebuilt
// for a new version, after Forget, and when evicted.
func TestInstanceLifecycle(t *testing.T) {
	e := newTestEngine(t, Config{MaxInstances: 2})
	p := mustCompile(t, "L", limitsClass)
	v1 := ClassRef{Name: "L", Version: 1, Program: p}
	st := newFakeState("o")
	calls := func(ref ClassRef, object string) string {
		return mustDo(t, e, ref, object, st, "GET", "/", "")
	}
	steps := []struct {
		ref    ClassRef
		object string
		forget bool
		want   string
	}{
		{v1, "o", false, `{"calls":1}`},
		{v1, "o", false, `{"calls":2}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "o", false, `{"calls":1}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "o", false, `{"calls":2}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "o", true, `{"calls":1}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "x", false, `{"calls":1}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "y", false, `{"calls":1}`}, // evicts o
		{ClassRef{Name: "L", Version: 2, Program: p}, "o", false, `{"calls":1}`},
		{ClassRef{Name: "L", Version: 2, Program: p}, "y", false, `{"calls":2}`},
	}
	for i, s := range steps {
		if s.forget {
			e.Forget("L")
		}
		if got := calls(s.ref, s.object); got != s.want {
			t.Fatalf("step %d (%s v%d): %s, want %s", i, s.object, s.ref.Version, got, s.want)
		}
	}
	if n := e.Instances(); n != 2 {
		t.Fatalf("%d instances, want 2", n)
	}
	e.Forget("L")
	if n := e.Instances(); n != 0 {
		t.Fatalf("%d instances after Forget, want 0", n)
	}
}

// TestForgetDuringCall: a call running when its class is forgotten
// finishes, and its instance is not kept.
func TestForgetDuringCall(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "Seq", Version: 1, Program: mustCompile(t, "Seq", seqClass)}
	a := &gatedState{fakeState: newFakeState("a"), reached: make(chan struct{}), open: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := e.Call(context.Background(), ref, "a", &Request{Method: "POST", URL: "http://h/"}, a, a.commit)
		done <- err
	}()
	<-a.reached
	e.Forget("Seq")
	close(a.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.Instances(); n != 0 {
		t.Fatalf("%d instances, want 0", n)
	}
}

// TestContextCancelled: a call waiting on a timer ends with its context.
func TestContextCancelled(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	st := newFakeState("o")
	_, err := e.Call(ctx, ref, "o", &Request{Method: "GET", URL: "http://h/sleep"}, st, st.commit)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = e.Call(ctx2, ref, "o", &Request{Method: "GET", URL: "http://h/loop"}, st, st.commit)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("loop: error %v, want the context's", err)
	}
}

// TestEmptyEffectsStillCommit: a read-only call hands empty Effects to
// commit, which may skip Raft.
func TestEmptyEffectsStillCommit(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "L", Version: 1, Program: mustCompile(t, "L", limitsClass)}
	var got []Effects
	_, err := e.Call(context.Background(), ref, "o", &Request{Method: "GET", URL: "http://h/"}, newFakeState("o"),
		func(eff Effects, _ *Response) error { got = append(got, eff); return nil })
	if err != nil || len(got) != 1 || !got[0].Empty() {
		t.Fatalf("commits %+v, %v; want one empty", got, err)
	}
}

const alarmClass = `
export class A {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(request) {
    const at = Number(new URL(request.url).searchParams.get("at"));
    await this.ctx.storage.setAlarm(at);
    return new Response("set");
  }
  async alarm(info) {
    const seen = (await this.ctx.storage.get("seen")) ?? [];
    seen.push(info);
    await this.ctx.storage.put("seen", seen);
    if (await this.ctx.storage.getAlarm() !== null) throw new Error("getAlarm inside alarm() should be null");
    if (info.retryCount < 2 && (await this.ctx.storage.get("fail"))) throw new Error("alarm failed " + info.retryCount);
    if (info.retryCount === 5) await this.ctx.storage.setAlarm(99);
  }
}`

func TestAlarm(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "A", Version: 1, Program: mustCompile(t, "A", alarmClass)}
	st := newFakeState("o")
	mustDo(t, e, ref, "o", st, "POST", "/?at=1700000000000", "")
	if at, ok := st.Alarm(); !ok || at != 1700000000000 {
		t.Fatalf("alarm = %d %v after setAlarm", at, ok)
	}
	alarm := func(info AlarmInfo) error {
		return e.Alarm(context.Background(), ref, "o", info, st, st.apply)
	}
	if err := alarm(AlarmInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Alarm(); ok {
		t.Fatal("a successful alarm() did not clear the alarm")
	}
	st.load("fail", "true")
	st.load("seen", "[]")
	mustDo(t, e, ref, "o", st, "POST", "/?at=5", "")
	err := alarm(AlarmInfo{})
	if msg := scriptMessage(t, err); msg != "alarm failed 0" {
		t.Fatalf("alarm error %q", msg)
	}
	if at, ok := st.Alarm(); !ok || at != 5 {
		t.Fatalf("a failed alarm() changed the alarm: %d %v", at, ok)
	}
	if err := alarm(AlarmInfo{RetryCount: 1, IsRetry: true}); err == nil {
		t.Fatal("retry 1 did not fail")
	}
	if err := alarm(AlarmInfo{RetryCount: 2, IsRetry: true}); err != nil {
		t.Fatal(err)
	}
	if got := st.get("seen"); got != `[{"isRetry":true,"retryCount":2}]` {
		t.Fatalf("seen %s: only the successful run commits", got)
	}
	if err := alarm(AlarmInfo{RetryCount: 5, IsRetry: true}); err != nil {
		t.Fatal(err)
	}
	if at, ok := st.Alarm(); !ok || at != 99 {
		t.Fatalf("an alarm() that sets the alarm left %d %v", at, ok)
	}
}

func TestSetAlarmNeedsHandler(t *testing.T) {
	p := mustCompile(t, "N", `export class N { constructor(ctx) { this.ctx = ctx } async fetch() { await this.ctx.storage.setAlarm(1); return new Response("") } }`)
	e := newTestEngine(t, Config{})
	_, err := do(t, e, ClassRef{Name: "N", Version: 1, Program: p}, "o", newFakeState("o"), "GET", "/", "")
	if msg := scriptMessage(t, err); !strings.Contains(msg, "no alarm() handler") {
		t.Fatalf("error %q", msg)
	}
	err = e.Alarm(context.Background(), ClassRef{Name: "N", Version: 1, Program: p}, "o", AlarmInfo{}, newFakeState("o"), func(Effects) error { return nil })
	if msg := scriptMessage(t, err); !strings.Contains(msg, "no alarm() method") {
		t.Fatalf("Alarm error %q", msg)
	}
}

// TestConstructor: blockConcurrencyWhile in the constructor settles before
// the first fetch; a throwing constructor is a ScriptError and is retried
// on the next call.
func TestConstructor(t *testing.T) {
	p := mustCompile(t, "C", `
export class C {
  constructor(ctx, env) {
    this.ctx = ctx;
    if (ctx.id.name === "bad") throw new Error("constructor failed");
    ctx.blockConcurrencyWhile(async () => {
      await new Promise((r) => setTimeout(r, 2));
      this.loaded = (await ctx.storage.get("v")) ?? "none";
    });
  }
  async fetch() { return new Response(String(this.loaded)); }
}`)
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "C", Version: 1, Program: p}
	st := newFakeState("o")
	st.load("v", `"stored"`)
	if got := mustDo(t, e, ref, "o", st, "GET", "/", ""); got != "stored" {
		t.Fatalf("fetch saw %q, want the value the constructor loaded", got)
	}
	_, err := do(t, e, ref, "bad", newFakeState("bad"), "GET", "/", "")
	if msg := scriptMessage(t, err); msg != "constructor failed" {
		t.Fatalf("error %q", msg)
	}
}

// TestClassWithoutFetch: a clear error, not a crash.
func TestClassWithoutFetch(t *testing.T) {
	p := mustCompile(t, "E", `export class E {}`)
	_, err := do(t, newTestEngine(t, Config{}), ClassRef{Name: "E", Version: 1, Program: p}, "o", newFakeState("o"), "GET", "/", "")
	if msg := scriptMessage(t, err); !strings.Contains(msg, "no fetch() method") {
		t.Fatalf("error %q", msg)
	}
}

// TestDefaultMethod: a Request without a method is a GET.
func TestDefaultMethod(t *testing.T) {
	p := mustCompile(t, "M", `export class M { async fetch(r) { return new Response(r.method) } }`)
	st := newFakeState("o")
	resp, err := newTestEngine(t, Config{}).Call(context.Background(), ClassRef{Name: "M", Version: 1, Program: p}, "o",
		&Request{URL: "http://h/", Header: http.Header{}}, st, st.commit)
	if err != nil || string(resp.Body) != "GET" {
		t.Fatalf("%v %v", resp, err)
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestScriptErrorStackNamesSourceLines: stack traces point into the
// deployed source (through esbuild's source map), not the bundle.
func TestScriptErrorStackNamesSourceLines(t *testing.T) {
	src := "interface X { a: number }\n\nexport class T {\n  async fetch() {\n    const x: X = { a: 1 };\n    throw new Error('boom ' + x.a);\n  }\n}\n"
	p, err := Compile("T", []byte(src), TypeScript)
	if err != nil {
		t.Fatal(err)
	}
	_, err = do(t, newTestEngine(t, Config{}), ClassRef{Name: "T", Version: 1, Program: p}, "o", newFakeState("o"), "GET", "/", "")
	var se *ScriptError
	if !errors.As(err, &se) || se.Message != "boom 1" || !strings.Contains(se.Stack, "class.ts:6:") {
		t.Fatalf("error %v, stack %q; want line 6 of class.ts", err, se.Stack)
	}
}

// TestEngineUnderChurn: concurrent calls over more objects than the LRU
// holds, with Forget and version changes in between, lose no increment.
func TestEngineUnderChurn(t *testing.T) {
	e := newTestEngine(t, Config{MaxInstances: 3})
	p := mustCompile(t, "Seq", seqClass)
	const objects, perObject = 8, 15
	states := make([]*fakeState, objects)
	for i := range states {
		states[i] = newFakeState(fmt.Sprint("o", i))
	}
	var wg sync.WaitGroup
	for i := range objects {
		for j := range perObject {
			wg.Go(func() {
				ref := ClassRef{Name: "Seq", Version: uint64(1 + j%3), Program: p}
				if _, err := do(t, e, ref, states[i].object, states[i], "POST", "/", ""); err != nil {
					t.Error(err)
				}
				if j%5 == 0 {
					e.Forget("Seq")
				}
			})
		}
	}
	wg.Wait()
	for _, st := range states {
		if got := st.get("n"); got != fmt.Sprint(perObject) {
			t.Errorf("%s: n = %s, want %d", st.object, got, perObject)
		}
	}
	if n := e.Instances(); n > 3 {
		t.Fatalf("%d instances live, bound 3", n)
	}
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	for k, s := range e.slots.byKey {
		if s.busy || s.users != 0 || len(s.waiters) != 0 || (s.inst == nil) != (s.lru == nil) {
			t.Errorf("slot %v left busy=%v users=%d waiters=%d inst=%v lru=%v", k, s.busy, s.users, len(s.waiters), s.inst != nil, s.lru != nil)
		}
	}
	if e.slots.lru.Len() != e.slots.live {
		t.Errorf("lru holds %d, live %d", e.slots.lru.Len(), e.slots.live)
	}
}
