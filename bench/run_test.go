package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDobj serves the part of dobj's HTTP API that bench sends,
// over an in-memory map, and fails every failEvery-th request with a 503.
type fakeDobj struct {
	failEvery int64

	requests atomic.Int64
	deletes  atomic.Int64
	mu       sync.Mutex
	counters map[string]int64 // object -> counter at key "value"
	stored   map[string]json.RawMessage
	okByOp   map[Op]int64   // answers with a 2xx, by op
	deleted  map[string]int // DELETE /<name>/storage answered 2xx, by name
}

func newFakeDobj(failEvery int64) *fakeDobj {
	return &fakeDobj{failEvery: failEvery, counters: map[string]int64{}, stored: map[string]json.RawMessage{}, okByOp: map[Op]int64{}, deleted: map[string]int{}}
}

func (f *fakeDobj) handler() http.Handler {
	mux := http.NewServeMux()
	wrap := func(op Op, h func(w http.ResponseWriter, r *http.Request) bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if n := f.requests.Add(1); f.failEvery > 0 && n%f.failEvery == 0 {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"type":"unavailable","title":"no leader","status":503}`)
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if h(w, r) {
				f.okByOp[op]++
			}
		}
	}
	counter := func(w http.ResponseWriter, name string) {
		json.NewEncoder(w).Encode(map[string]any{"name": name, "value": f.counters[name]})
	}
	mux.Handle("POST /{name}/increment", wrap(OpIncrement, func(w http.ResponseWriter, r *http.Request) bool {
		name := r.PathValue("name")
		f.counters[name]++
		counter(w, name)
		return true
	}))
	mux.Handle("GET /{name}", wrap(OpRead, func(w http.ResponseWriter, r *http.Request) bool {
		// Reads are told apart by their consistency parameter.
		switch c := r.URL.Query().Get("consistency"); c {
		case "", "linearizable":
		case "stale":
			f.okByOp[OpStaleRead]++
			counter(w, r.PathValue("name"))
			return false
		default:
			http.Error(w, "bad consistency "+c, http.StatusBadRequest)
			return false
		}
		counter(w, r.PathValue("name"))
		return true
	}))
	mux.Handle("PUT /{name}/storage/{key}", wrap(OpPut, func(w http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		if !json.Valid(body) {
			http.Error(w, `{"type":"bad-request"}`, http.StatusBadRequest)
			return false
		}
		f.stored[r.PathValue("name")+"/"+r.PathValue("key")] = body
		io.WriteString(w, `{"ok":true}`)
		return true
	}))
	mux.HandleFunc("DELETE /{name}/storage", func(w http.ResponseWriter, r *http.Request) {
		// Counted apart from the load's requests, which tests compare
		// with the ops measured.
		if n := f.deletes.Add(1); f.failEvery > 0 && n%f.failEvery == 0 {
			http.Error(w, `{"type":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.PathValue("name")
		n := 0
		if _, ok := f.counters[name]; ok {
			delete(f.counters, name)
			n++
		}
		for k := range f.stored {
			if strings.HasPrefix(k, name+"/") {
				delete(f.stored, k)
				n++
			}
		}
		f.deleted[name]++
		fmt.Fprintf(w, `{"deleted":%d}`, n)
	})
	mux.Handle("POST /{name}/transaction", wrap(OpTxn, func(w http.ResponseWriter, r *http.Request) bool {
		var txn struct {
			Compare []struct{ Key, Op string }
			Success []struct {
				Op, Key string
				By      int64
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&txn); err != nil || len(txn.Compare) != 1 || len(txn.Success) != 2 {
			http.Error(w, `{"type":"bad-request"}`, http.StatusBadRequest)
			return false
		}
		name := r.PathValue("name")
		f.counters[name]++
		io.WriteString(w, `{"succeeded":true,"results":[]}`)
		return true
	}))
	return mux
}

func (f *fakeDobj) counterSum() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, v := range f.counters {
		n += v
	}
	return n
}

// checkConsistent asserts the invariants every result keeps: ops =
// successes + errors per op and overall, the per-op rows add up to the
// overall one, and so do the errors by status.
func checkConsistent(t *testing.T, res *Result) {
	t.Helper()
	var sum Stats
	for name, s := range res.ByOp {
		if s.Ops != s.Successes+s.Errors {
			t.Errorf("%s: ops %d != successes %d + errors %d", name, s.Ops, s.Successes, s.Errors)
		}
		sum.Ops += s.Ops
		sum.Successes += s.Successes
		sum.Errors += s.Errors
	}
	o := res.Overall
	if o.Ops != o.Successes+o.Errors {
		t.Errorf("overall: ops %d != successes %d + errors %d", o.Ops, o.Successes, o.Errors)
	}
	if sum.Ops != o.Ops || sum.Successes != o.Successes || sum.Errors != o.Errors {
		t.Errorf("per-op rows add up to %+v, overall is %+v", sum, o)
	}
	var byStatus int64
	for _, n := range res.ErrorsByStatus {
		byStatus += n
	}
	if byStatus != o.Errors {
		t.Errorf("errors by status %v add up to %d, want %d", res.ErrorsByStatus, byStatus, o.Errors)
	}
}

func TestRunAgainstFakeDobj(t *testing.T) {
	f := newFakeDobj(10)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	// Two "nodes" that are the same server: clients spread over both.
	res, err := Run(context.Background(), Options{
		URLs:     []string{srv.URL, srv.URL + "/"},
		Clients:  4,
		Duration: 1100 * time.Millisecond,
		Objects:  7,
		Mix:      Mix{1, 1, 1, 1, 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	o := res.Overall
	if o.Successes == 0 || o.Errors == 0 {
		t.Fatalf("want both successes and the fake's 503s, got %+v", o)
	}
	// Without warmup or interruption every request sent is measured.
	if got := f.requests.Load(); got != o.Ops {
		t.Fatalf("server saw %d requests, result counts %d ops", got, o.Ops)
	}
	if res.ErrorsByStatus["503"] != o.Errors || len(res.ErrorsByStatus) != 1 {
		t.Fatalf("errors by status %v, want only 503s (%d)", res.ErrorsByStatus, o.Errors)
	}
	f.mu.Lock()
	for op := range numOps {
		if got, want := res.ByOp[op.String()].Successes, f.okByOp[op]; got != want {
			t.Errorf("%v: bench counted %d successes, server answered %d", op, got, want)
		}
	}
	f.mu.Unlock()
	if inc, txn := res.ByOp["increment"].Successes, res.ByOp["txn"].Successes; f.counterSum() != inc+txn {
		t.Errorf("server counters sum to %d, want increments %d + txns %d", f.counterSum(), inc, txn)
	}
	if res.Overall.LatencyMs.P50 <= 0 || res.Overall.LatencyMs.P99 < res.Overall.LatencyMs.P50 || res.Overall.LatencyMs.Max < res.Overall.LatencyMs.P99 {
		t.Errorf("latencies out of order: %+v", res.Overall.LatencyMs)
	}
	if res.DurationSec <= 0 || res.DurationSec > 1.1 {
		t.Errorf("measured %vs, want (0, 1.1]", res.DurationSec)
	}
}

// progressLine is a line of a run's progress once the warmup is over;
// its group is the ops measured so far.
var progressLine = regexp.MustCompile(`(?m)^\s*\d+\.\ds\s+(\d+) ops\s+\d+ ops/s\s+\(last 1s:\s+\d+/s\)\s+errors 0$`)

// progressWriter keeps what a run's progress writes and calls seen once,
// at the first line that counts some measured ops.
type progressWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen func()
	once sync.Once
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := progressLine.FindSubmatch(p); m != nil && string(m[1]) != "0" {
		w.once.Do(w.seen)
	}
	return len(p), nil
}

func (w *progressWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A run prints progress lines while it goes on, with the ops measured so
// far: the test waits for one that counts some (the ticker fires once a
// second, however slow the machine) and then ends the run.
func TestRunPrintsProgressWhileRunning(t *testing.T) {
	f := newFakeDobj(0)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	// The timeout only bounds a failing test.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var seen atomic.Bool
	progress := &progressWriter{seen: func() { seen.Store(true); cancel() }}
	res, err := Run(ctx, Options{URLs: []string{srv.URL}, Clients: 2, Duration: 5 * time.Minute, Objects: 1,
		Mix: Mix{OpIncrement: 1}, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if !seen.Load() {
		t.Fatalf("no progress line counting ops in %vs:\n%s", res.DurationSec, progress.String())
	}
	for _, m := range progressLine.FindAllStringSubmatch(progress.String(), -1) {
		if n, _ := strconv.ParseInt(m[1], 10, 64); n > res.Overall.Ops {
			t.Errorf("progress line counts %d ops, more than the run's %d: %q", n, res.Overall.Ops, m[0])
		}
	}
}

func TestRunWarmupIsNotMeasured(t *testing.T) {
	f := newFakeDobj(0)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Options{
		URLs: []string{srv.URL}, Clients: 2, Warmup: 150 * time.Millisecond, Duration: 150 * time.Millisecond,
		Objects: 3, Mix: Mix{OpIncrement: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Errors != 0 || res.Overall.Successes == 0 {
		t.Fatalf("overall %+v", res.Overall)
	}
	if sent := f.requests.Load(); res.Overall.Ops >= sent {
		t.Fatalf("measured %d ops of %d sent: the warmup's were counted", res.Overall.Ops, sent)
	}
	if _, ok := res.ByOp["read"]; ok || len(res.ByOp) != 1 {
		t.Fatalf("by op %v, want only increment", res.ByOp)
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	res, err := Run(context.Background(), Options{
		URLs: []string{url}, Clients: 2, Duration: 100 * time.Millisecond, Objects: 1, Mix: Mix{OpRead: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Successes != 0 || res.Overall.Errors == 0 || res.ErrorsByStatus["transport"] != res.Overall.Errors {
		t.Fatalf("overall %+v, by status %v: want only transport errors", res.Overall, res.ErrorsByStatus)
	}
}

func TestRunStopsWhenContextIsDone(t *testing.T) {
	f := newFakeDobj(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The context ends at the 5th request: by then one of the two
	// clients has sent 3, and its first 2 were answered and counted
	// (however slow the machine, unlike a fixed timeout).
	h := f.handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if f.requests.Load() >= 5 {
			cancel()
		}
	}))
	t.Cleanup(srv.Close)
	start := time.Now()
	res, err := Run(ctx, Options{URLs: []string{srv.URL}, Clients: 2, Duration: time.Minute, Objects: 1, Mix: Mix{OpIncrement: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("run took %v after its context ended", took)
	}
	checkConsistent(t, res)
	if res.Overall.Successes == 0 || res.DurationSec >= 60 {
		t.Fatalf("result %+v over %vs", res.Overall, res.DurationSec)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	good := Options{URLs: []string{"http://127.0.0.1:1"}, Clients: 1, Duration: time.Second, Objects: 1, Mix: Mix{OpIncrement: 1}}
	for name, mutate := range map[string]func(*Options){
		"no urls":    func(o *Options) { o.URLs = nil },
		"no clients": func(o *Options) { o.Clients = 0 },
		"no time":    func(o *Options) { o.Duration = 0 },
		"no objects": func(o *Options) { o.Objects = 0 },
		"empty mix":  func(o *Options) { o.Mix = Mix{} },
		"target":     func(o *Options) { o.Target = "redis" },
		"rpc on etcd": func(o *Options) {
			o.Target, o.Mix = TargetEtcd, Mix{OpRPCIncrement: 1}
		},
		"worker storage": func(o *Options) { o.WorkerStorage = "durable" },
	} {
		t.Run(name, func(t *testing.T) {
			o := good
			mutate(&o)
			if _, err := Run(context.Background(), o); err == nil {
				t.Fatal("Run accepted bad options")
			}
		})
	}
}

// fakeEtcd is etcd's v3 HTTP/JSON gateway for put, range and txn: keys and
// values base64 in JSON.
type fakeEtcd struct {
	mu   sync.Mutex
	kv   map[string]string
	hits map[string]int64 // path, and "range serializable"
	bad  int64            // requests whose body did not decode
}

func (f *fakeEtcd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key          string `json:"key"`
		Value        string `json:"value"`
		Serializable bool   `json:"serializable"`
		Compare      []struct {
			Key, Target, Result, Version string
		} `json:"compare"`
		Success []struct {
			RequestPut struct{ Key, Value string } `json:"request_put"`
		} `json:"success"`
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		f.bad++
		http.Error(w, `{"error":"bad request","code":3}`, http.StatusBadRequest)
		return
	}
	decode := func(s string) (string, bool) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err == nil && len(b) > 0
	}
	key, okKey := decode(req.Key)
	switch r.URL.Path {
	case "/v3/kv/put":
		val, okVal := decode(req.Value)
		if !okKey || !okVal || !strings.HasPrefix(key, "bench/") || !json.Valid([]byte(val)) {
			f.bad++
			http.Error(w, `{"error":"bad put"}`, http.StatusBadRequest)
			return
		}
		f.kv[key] = val
		f.hits["put"]++
		io.WriteString(w, `{"header":{"revision":"2"}}`)
	case "/v3/kv/range":
		if !okKey {
			f.bad++
			http.Error(w, `{"error":"bad range"}`, http.StatusBadRequest)
			return
		}
		if req.Serializable {
			f.hits["range serializable"]++
		} else {
			f.hits["range"]++
		}
		io.WriteString(w, `{"header":{"revision":"2"},"kvs":[]}`)
	case "/v3/kv/txn":
		if len(req.Compare) != 1 || len(req.Success) != 1 || req.Compare[0].Target != "VERSION" {
			f.bad++
			http.Error(w, `{"error":"bad txn"}`, http.StatusBadRequest)
			return
		}
		f.hits["txn"]++
		io.WriteString(w, `{"header":{"revision":"2"},"succeeded":true}`)
	default:
		http.NotFound(w, r)
	}
}

func TestRunAgainstFakeEtcd(t *testing.T) {
	f := &fakeEtcd{kv: map[string]string{}, hits: map[string]int64{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Options{
		Target: TargetEtcd, URLs: []string{srv.URL}, Clients: 3, Duration: 200 * time.Millisecond,
		Objects: 5, Mix: Mix{1, 1, 1, 1, 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Errors != 0 || f.bad != 0 {
		t.Fatalf("errors %v; the fake rejected %d requests", res.ErrorsByStatus, f.bad)
	}
	by := res.ByOp
	want := map[string]int64{
		"put":                by["increment"].Successes + by["put"].Successes,
		"range":              by["read"].Successes,
		"range serializable": by["stale_read"].Successes,
		"txn":                by["txn"].Successes,
	}
	for k, n := range want {
		if f.hits[k] != n || n == 0 {
			t.Errorf("etcd saw %d %s, bench counted %d", f.hits[k], k, n)
		}
	}
	// Puts land on the 5 objects' keys and their storage keys only.
	for k := range f.kv {
		obj, _, _ := strings.Cut(strings.TrimPrefix(k, "bench/"), "/")
		if !strings.HasPrefix(k, "bench/") || !slices.Contains([]string{"bench-0", "bench-1", "bench-2", "bench-3", "bench-4"}, obj) {
			t.Errorf("put to unexpected key %q", k)
		}
	}
}

func TestRunCountsTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // answers only once the test is over
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	res, err := Run(context.Background(), Options{
		URLs: []string{srv.URL}, Clients: 2, Duration: 100 * time.Millisecond, Objects: 1,
		Mix: Mix{OpIncrement: 1}, Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Errors == 0 || res.ErrorsByStatus["timeout"] != res.Overall.Errors {
		t.Fatalf("overall %+v, by status %v: want only timeouts", res.Overall, res.ErrorsByStatus)
	}
}
