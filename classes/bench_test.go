package classes

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

// cpuTimer reports the process's CPU time (user and system) per op
// beside the wall time: on a shared box the wall time of a benchmark says
// more about the neighbours than about the code.
func cpuTimer(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCallCounter is one increment of examples/counter.js through the
// engine, on a live instance, with a commit that applies the effects to an
// in-memory store (no Raft).
func BenchmarkCallCounter(b *testing.B) {
	e := newTestEngine(b, Config{})
	ref := compileExample(b, "counter.js")
	st := newFakeState("card-1")
	req := &Request{Method: "POST", URL: "http://node/increment", Header: http.Header{}}
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		if _, err := e.Call(ctx, ref, "card-1", req, st, st.commit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st.get("value") == "" {
		b.Fatal("nothing counted")
	}
}

// BenchmarkCallCounterNoopCommit is the same with a commit that does
// nothing: the engine's own cost.
func BenchmarkCallCounterNoopCommit(b *testing.B) {
	e := newTestEngine(b, Config{})
	ref := compileExample(b, "counter.js")
	st := newFakeState("card-1")
	req := &Request{Method: "POST", URL: "http://node/increment", Header: http.Header{}}
	ctx := context.Background()
	noop := func(Effects, *Response) error { return nil }
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		resp, err := e.Call(ctx, ref, "card-1", req, st, noop)
		if err != nil || resp.Status != 200 {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkCallCounterParallel spreads increments over 64 objects from
// parallel goroutines.
func BenchmarkCallCounterParallel(b *testing.B) {
	e := newTestEngine(b, Config{})
	ref := compileExample(b, "counter.js")
	states := make([]*fakeState, 64)
	for i := range states {
		states[i] = newFakeState(fmt.Sprint("card-", i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuTimer(b)()
	var next int64
	var mu = make(chan struct{}, 1)
	b.RunParallel(func(pb *testing.PB) {
		mu <- struct{}{}
		st := states[next%64]
		next++
		<-mu
		req := &Request{Method: "POST", URL: "http://node/increment", Header: http.Header{}}
		for pb.Next() {
			if _, err := e.Call(ctx, ref, st.object, req, st, st.commit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewInstance is the cost of a cold object: a runtime, the
// prelude, the module and the constructor.
func BenchmarkNewInstance(b *testing.B) {
	e := newTestEngine(b, Config{})
	ref := compileExample(b, "counter.js")
	st := newFakeState("card-1")
	req := &Request{Method: "GET", URL: "http://node/", Header: http.Header{}}
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		e.Forget("Counter")
		if _, err := e.Call(ctx, ref, "card-1", req, st, st.commit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile is Compile of examples/ratelimiter.ts.
func BenchmarkCompile(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "examples", "ratelimiter.ts"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		if _, err := Compile("RateLimiter", src, TypeScript); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallCounterColdObjects is one increment at a time spread over
// 1,000 live objects, as `dobj bench --op class-increment` spreads them:
// each call's instance is cold in the CPU's caches, though the runtimes
// the instances share are not (runtimes.go), and the GC marks every
// instance's heap.
func BenchmarkCallCounterColdObjects(b *testing.B) {
	const objects = 1000
	e := newTestEngine(b, Config{})
	ref := compileExample(b, "counter.js")
	states := make([]*fakeState, objects)
	ctx := context.Background()
	req := &Request{Method: "POST", URL: "http://node/increment", Header: http.Header{}}
	heap0 := liveHeap()
	for i := range states {
		states[i] = newFakeState(fmt.Sprint("card-", i))
		if _, err := e.Call(ctx, ref, states[i].object, req, states[i], states[i].commit); err != nil {
			b.Fatal(err)
		}
	}
	if n := e.Instances(); n != objects {
		b.Fatalf("%d instances live, want %d", n, objects)
	}
	// The live heap the instances hold, beside the timings: what
	// Config.MaxInstances trades against rebuilds.
	perInstance := float64(liveHeap()-heap0) / objects / 1024
	defer b.ReportMetric(perInstance, "heap-KiB/instance")
	b.ReportAllocs()
	defer cpuTimer(b)()
	i := 0
	for b.Loop() {
		st := states[i%objects]
		i += 7919 // a prime: every object in turn, in no cache-friendly order
		if _, err := e.Call(ctx, ref, st.object, req, st, st.commit); err != nil {
			b.Fatal(err)
		}
	}
}

// liveHeap is the heap that survives a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCallSQLCounter is one SQL increment (UPDATE … SET v = v + 1 …
// RETURNING v) through the engine on a SQLite-backed object, on a live
// instance: the session begun on the object's database, the statement,
// the cursor, and the commit the host makes — the session's log taken and
// rolled back, then applied to the database (no Raft, no replica).
func BenchmarkCallSQLCounter(b *testing.B) {
	e := newTestEngine(b, Config{})
	st := newSQLState(b, "card-1")
	st.replica = nil
	ref := ClassRef{Name: "Counter", Version: 1, Program: mustCompile(b, "Counter", sqlCounter)}
	req := &Request{Method: "GET", URL: "http://node/", Header: http.Header{}}
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		if _, err := e.Call(ctx, ref, "card-1", req, st, st.commit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := st.query("SELECT v FROM counter")[0][0].(int64); got < int64(b.N) {
		b.Fatalf("counted %d of %d", got, b.N)
	}
}

// benchWorkerApp is the seed's counter Worker as dobj bench's
// worker-increment deploys it (bench/workerapp): its routes by hand,
// each request an RPC increment on the named counter.
const benchWorkerApp = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export default {
  async fetch(request, env) {
    const parts = new URL(request.url).pathname.split("/");
    const name = decodeURIComponent(parts[1] ?? "");
    const stub = env.COUNTER.get(env.COUNTER.idFromName(name));
    if (request.method === "POST" && parts.length === 3 && parts[2] === "increment") {
      return Response.json({ name, value: await stub.increment(1) });
    }
    return new Response("Not Found", { status: 404 });
  },
};
`

// BenchmarkWorkerIncrement is one request of dobj bench's
// worker-increment through a Worker, its stub's RPC answered at once by
// a fake: the Worker's own cost, without the object's or the network's.
func BenchmarkWorkerIncrement(b *testing.B) {
	out := &fakeOutbound{counts: map[string]int{}}
	w, err := NewWorker(Config{}, WorkerConfig{Name: "app", Source: []byte(benchWorkerApp),
		Namespaces: []Namespace{{Name: "COUNTER", NS: objects.NewNamespace("app", "Counter")}}, Outbound: out})
	if err != nil {
		b.Fatal(err)
	}
	// The api's request and request.cf (api/workers.go).
	req := &Request{Method: "POST", URL: "http://127.0.0.1:8787/bench-1/increment",
		Header: http.Header{"Content-Length": {"0"}, "Cf-Connecting-Ip": {"127.0.0.1"}, "User-Agent": {"fasthttp"}}}
	cf := []byte(`{"asn":0,"clientIp":"127.0.0.1","colo":"dobj","country":"XX","httpProtocol":"HTTP/1.1"}`)
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		out.mu.Lock()
		out.calls = out.calls[:0]
		out.mu.Unlock()
		resp, err := w.Fetch(ctx, req, cf)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Status != http.StatusOK {
			b.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
	}
}
