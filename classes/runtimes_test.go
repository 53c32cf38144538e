package classes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedClass counts calls in the module's top level, which the objects of
// one runtime share, and in the instance, which is each object's own.
const sharedClass = `
let moduleCalls = 0;
export class S {
  constructor(ctx) { this.ctx = ctx; this.calls = 0; }
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/sleep") await new Promise((r) => setTimeout(r, 300));
    if (path === "/loop") for (;;) {}
    if (path === "/hoard") { globalThis.hoard = []; for (;;) globalThis.hoard.push({n: globalThis.hoard.length}); }
    moduleCalls++;
    this.calls++;
    return Response.json({module: moduleCalls, instance: this.calls});
  }
}
`

func TestObjectsShareRuntimes(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 2})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	const objects = 10
	states := make([]*fakeState, objects)
	for i := range states {
		states[i] = newFakeState(fmt.Sprint("o", i))
		if got := mustDo(t, e, ref, states[i].object, states[i], "GET", "/", ""); !strings.HasSuffix(got, `"instance":1}`) {
			t.Fatalf("object %d, first call: %s", i, got)
		}
	}
	s := e.Stats()
	if s.Instances != objects || s.Runtimes != 2 {
		t.Fatalf("stats %+v, want %d instances on 2 runtimes", s, objects)
	}
	// Each instance counts its own calls; the module's count is its
	// runtime's, shared: 10 calls over 2 runtimes, 5 each, then one more.
	if got := mustDo(t, e, ref, "o0", states[0], "GET", "/", ""); got != `{"module":6,"instance":2}` {
		t.Fatalf("second call of o0: %s, want the instance's 2nd call and its runtime's 6th", got)
	}
	// Dropping every instance drops the runtimes.
	e.Forget("S")
	if s := e.Stats(); s.Instances != 0 || s.Runtimes != 0 {
		t.Fatalf("after Forget: %+v, want no instances and no runtimes", s)
	}
}

// TestSharedRuntimeInterleaves: a call that awaits a timer gives the
// runtime to another object's call meanwhile.
func TestSharedRuntimeInterleaves(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	sleeper, other := newFakeState("sleeper"), newFakeState("other")
	mustDo(t, e, ref, "sleeper", sleeper, "GET", "/", "") // both on the one runtime
	mustDo(t, e, ref, "other", other, "GET", "/", "")
	slept := make(chan error, 1)
	go func() {
		_, err := do(t, e, ref, "sleeper", sleeper, "GET", "/sleep", "")
		slept <- err
	}()
	waitFor(t, func() bool { return e.Stats().Calls == 3 }) // the sleeper's call began
	mustDo(t, e, ref, "other", other, "GET", "/", "")
	select {
	case err := <-slept:
		t.Fatalf("the sleeper finished before the other object's call: %v", err)
	default:
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
}

// TestMemoryLimitRetiresRuntime: what a call hoarded in the module's
// globals is freed with its runtime; the runtime's other objects are
// rebuilt on a fresh one at their next call.
func TestMemoryLimitRetiresRuntime(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1, MaxHeapGrowth: 64 << 20})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	hoarder, other := newFakeState("hoarder"), newFakeState("other")
	mustDo(t, e, ref, "other", other, "GET", "/", "")
	if _, err := do(t, e, ref, "hoarder", hoarder, "GET", "/hoard", ""); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("hoarding call: %v, want ErrMemoryLimit", err)
	}
	if s := e.Stats(); s.Runtimes != 0 {
		t.Fatalf("stats %+v: the runtime that hoarded is still in use", s)
	}
	if got := mustDo(t, e, ref, "other", other, "GET", "/", ""); got != `{"module":1,"instance":1}` {
		t.Fatalf("other after the retirement: %s, want a fresh instance on a fresh runtime", got)
	}
}

// TestRuntimesBoundedUnderConcurrentBuilds: objects whose first calls
// come at once build no more runtimes than the class may have.
func TestRuntimesBoundedUnderConcurrentBuilds(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 3})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			st := newFakeState(fmt.Sprint("c", i))
			if _, err := do(t, e, ref, st.object, st, "GET", "/", ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s := e.Stats(); s.Instances != 12 || s.Runtimes > 3 || s.Runtimes == 0 {
		t.Fatalf("stats %+v, want 12 instances on at most 3 runtimes", s)
	}
}

// TestTurnWaitHonoursContext: a call queued for the turn of a runtime
// whose other object loops gives up when its context ends, not when the
// CPU limit stops the loop.
func TestTurnWaitHonoursContext(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1, CPULimit: 1500 * time.Millisecond})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	spin, other := newFakeState("spin"), newFakeState("other")
	mustDo(t, e, ref, "spin", spin, "GET", "/", "")
	mustDo(t, e, ref, "other", other, "GET", "/", "")
	looped := make(chan error, 1)
	go func() {
		_, err := do(t, e, ref, "spin", spin, "GET", "/loop", "")
		looped <- err
	}()
	waitFor(t, func() bool { return e.Stats().Calls == 3 })
	e.runtimes.mu.Lock()
	vm := e.runtimes.byClass["S"].vms[0]
	e.runtimes.mu.Unlock()
	waitFor(t, vm.turnTaken.Load)
	// Longer than turnPatience: with no other runtime to move to, the
	// call waits on and gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 3*turnPatience)
	defer cancel()
	_, err := e.Call(ctx, ref, "other", &Request{Method: "GET", URL: "http://h/"}, other, other.commit)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the queued call: %v, want its deadline", err)
	}
	if !vm.turnTaken.Load() {
		t.Fatal("the queued call gave up only once the loop had ended")
	}
	if err := <-looped; !errors.Is(err, ErrCPULimit) {
		t.Fatalf("the loop: %v", err)
	}
	if got := mustDo(t, e, ref, "other", other, "GET", "/", ""); !strings.HasSuffix(got, `"instance":2}`) {
		t.Fatalf("other after giving up: %s, want its instance kept", got)
	}
}

// TestObjectMovesOffABusyRuntime: an object whose runtime a neighbour
// holds (a loop until the CPU limit) is rebuilt on a runtime whose turn is
// free after turnPatience, rather than wait for the limit.
func TestObjectMovesOffABusyRuntime(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 2, CPULimit: time.Second})
	ref := ClassRef{Name: "S", Version: 1, Program: mustCompile(t, "S", sharedClass)}
	spin, second, third := newFakeState("spin"), newFakeState("second"), newFakeState("third")
	for _, st := range []*fakeState{spin, second, third} { // spin and third share a runtime
		mustDo(t, e, ref, st.object, st, "GET", "/", "")
	}
	e.runtimes.mu.Lock()
	vms := slices.Clone(e.runtimes.byClass["S"].vms)
	var users []int
	for _, vm := range vms {
		users = append(users, vm.users)
	}
	e.runtimes.mu.Unlock()
	if !slices.Equal(users, []int{2, 1}) {
		t.Fatalf("runtimes with %v instances, want 2 with [2 1]", users)
	}
	looped := make(chan error, 1)
	go func() {
		_, err := do(t, e, ref, "spin", spin, "GET", "/loop", "")
		looped <- err
	}()
	waitFor(t, vms[0].turnTaken.Load)
	got := mustDo(t, e, ref, "third", third, "GET", "/", "")
	if !vms[0].turnTaken.Load() {
		t.Fatal("third's call answered only once the loop had ended")
	}
	if got != `{"module":2,"instance":1}` {
		t.Fatalf("third after the move: %s, want a new instance on the other runtime (its 2nd call)", got)
	}
	if err := <-looped; !errors.Is(err, ErrCPULimit) {
		t.Fatalf("the loop: %v", err)
	}
}
