package classes

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// hoardModule keeps what its calls make in a module global, shared by
// every object on the runtime, as a class that caches carelessly does.
const hoardModule = `
const hoard = [];
const mib = "x".repeat(1 << 20);
export class H {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/steps") { // one call, growing across timer steps
      const mine = [];
      for (let i = 0; i < 1000; i++) {
        mine.push(mib + i); // a new MiB each time
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return new Response(String(mine.length));
    }
    if (url.pathname === "/hoard") hoard.push(mib + hoard.length);
    if (url.pathname === "/hoard-and-throw") { hoard.push(mib + hoard.length); throw new Error("no"); }
    return new Response(String(hoard.length));
  }
}`

// TestRuntimeMemoryBoundAcrossCalls: a runtime whose module globals grow
// call after call, each call well under the watchdog's bound, is retired
// once it holds more than MaxRuntimeBytes; the call that took it there
// fails with ErrMemoryLimit (whether it threw or not), and the class's
// next call runs on a fresh runtime.
func TestRuntimeMemoryBoundAcrossCalls(t *testing.T) {
	const limit = 64 << 20
	e := newTestEngine(t, Config{RuntimesPerClass: 1, MaxRuntimeBytes: limit})
	ref := ClassRef{Name: "H", Version: 1, Program: mustCompile(t, "H", hoardModule)}
	st := newFakeState("o")
	mustDo(t, e, ref, "keeper", newFakeState("keeper"), "GET", "/", "") // keeps the runtime while o's instance is rebuilt
	var err error
	calls := 0
	for calls < 1000 && !errors.Is(err, ErrMemoryLimit) {
		calls++
		path := "/hoard"
		if calls%2 == 0 { // a call that fails hoards as well
			path = "/hoard-and-throw"
		}
		_, err = do(t, e, ref, "o", st, "GET", path, "")
		var se *ScriptError
		if err != nil && !errors.Is(err, ErrMemoryLimit) && !(calls%2 == 0 && errors.As(err, &se)) {
			t.Fatalf("call %d: %v", calls, err)
		}
	}
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "runtime holds over 64 MiB") {
		t.Fatalf("after %d calls of 1 MiB each: %v, want ErrMemoryLimit naming the runtime's bound", calls, err)
	}
	// Found within what the process allocates between two measures.
	if held := calls; held > limit>>20+2*measureEvery>>20 {
		t.Fatalf("the runtime held %d MiB before it was stopped, bound %d MiB", held, limit>>20)
	}
	if got := mustDo(t, e, ref, "o", st, "GET", "/", ""); got != "0" {
		t.Fatalf("the next call sees %s hoarded values, want a fresh runtime's 0", got)
	}
}

// TestRuntimeMemoryBoundAcrossTimerSteps: one call that grows what it
// keeps across timer steps, each step far under the watchdog's bound,
// fails with ErrMemoryLimit once the heap grew past the bound while it
// ran.
func TestRuntimeMemoryBoundAcrossTimerSteps(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1, MaxHeapGrowth: 64 << 20})
	ref := ClassRef{Name: "H", Version: 1, Program: mustCompile(t, "H", hoardModule)}
	st := newFakeState("o")
	if _, err := do(t, e, ref, "o", st, "GET", "/steps", ""); !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "while the call ran") {
		t.Fatalf("a call keeping 1 GiB over 1,000 timer steps: %v, want ErrMemoryLimit", err)
	}
	if got := mustDo(t, e, ref, "o", st, "GET", "/", ""); got != "0" {
		t.Fatalf("the next call: %q", got)
	}
}

// TestMeasureCountsWhatARuntimeHolds: the walk finds a module global's
// strings, each once however often it is referenced, and a fresh runtime
// is small.
func TestMeasureCountsWhatARuntimeHolds(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1})
	ref := ClassRef{Name: "H", Version: 1, Program: mustCompile(t, "H", hoardModule)}
	st := newFakeState("o")
	mustDo(t, e, ref, "o", st, "GET", "/", "")
	size := func() uint64 {
		vm := e.runtimes.byClass["H"].vms[0]
		vm.take()
		defer vm.give()
		vm.measure(nil)
		return vm.size
	}
	fresh := size()
	if fresh > 4<<20 {
		t.Fatalf("a fresh runtime measures %d KiB", fresh>>10)
	}
	for range 8 {
		mustDo(t, e, ref, "o", st, "GET", "/hoard", "")
	}
	if got := size() - fresh; got < 8<<20 || got > 9<<20 {
		t.Fatalf("8 MiB hoarded measures %d KiB", got>>10)
	}
}

// TestMeasureLeavesLockedStateAlone: a WeakMap's entries are deleted by
// the collector's cleanups on their own goroutine, under the map's lock;
// measuring a runtime never reads them (the race detector would tell).
func TestMeasureLeavesLockedStateAlone(t *testing.T) {
	e := newTestEngine(t, Config{RuntimesPerClass: 1})
	ref := ClassRef{Name: "W", Version: 1, Program: mustCompile(t, "W", `
const wm = new WeakMap();
export class W {
  fetch() {
    for (let i = 0; i < 20000; i++) wm.set({}, i); // keys the collector frees at once
    return new Response("ok");
  }
}`)}
	mustDo(t, e, ref, "o", newFakeState("o"), "GET", "/", "")
	vm := e.runtimes.byClass["W"].vms[0]
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			runtime.GC()
		}
	}()
	for range 10 {
		vm.take()
		vm.measure(nil)
		vm.give()
	}
	<-done
}
