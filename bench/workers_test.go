package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunWorkerIncrement: worker_increment deploys the seed's counter as
// a Workers project through the API (its bundle, binding and migration)
// and sends POST /<name>/increment to the Worker listeners, spread over
// them, never to the API.
func TestRunWorkerIncrement(t *testing.T) {
	var mu sync.Mutex
	var deployed []string // what each deploy's parts held
	var apiOther atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/_scripts/dobj-bench-counter" {
			apiOther.Add(1)
			http.Error(w, "not a Worker route", http.StatusNotFound)
			return
		}
		d, err := readDeploy(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		deployed = append(deployed, d)
		mu.Unlock()
		w.Write([]byte(`{"name":"dobj-bench-counter","version":1}`))
	}))
	t.Cleanup(api.Close)
	var hits [2]atomic.Int64
	var workers []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/increment") || strings.Count(r.URL.Path, "/") != 2 {
				http.Error(w, "want POST /NAME/increment", http.StatusNotFound)
				return
			}
			hits[i].Add(1)
			w.Write([]byte(`{"value":1}`))
		}))
		t.Cleanup(srv.Close)
		workers = append(workers, srv.URL)
	}
	res, err := Run(context.Background(), Options{
		URLs: []string{api.URL}, WorkerURLs: workers, Clients: 4, Duration: 200 * time.Millisecond,
		Objects: 5, Mix: Mix{OpWorkerIncrement: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Errors != 0 || res.Overall.Successes == 0 || res.Overall.Ops != hits[0].Load()+hits[1].Load() {
		t.Fatalf("overall %+v, Worker listeners saw %d and %d", res.Overall, hits[0].Load(), hits[1].Load())
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 || apiOther.Load() != 0 {
		t.Fatalf("Workers saw %d and %d increments, the API %d other requests", hits[0].Load(), hits[1].Load(), apiOther.Load())
	}
	if len(deployed) != 1 {
		t.Fatalf("%d deploys, want 1", len(deployed))
	}
	var meta struct {
		MainModule string `json:"main_module"`
	}
	d := deployed[0]
	meta.MainModule = "?"
	if i := strings.Index(d, "metadata="); i >= 0 {
		json.NewDecoder(strings.NewReader(d[i+len("metadata="):])).Decode(&meta)
	}
	for _, want := range []string{`"class_name":"Counter"`, `"new_sqlite_classes":["Counter"]`, "var Counter = class extends DurableObject", "getCounterValue"} {
		if !strings.Contains(d, want) {
			t.Errorf("deploy lacks %s:\n%.600s", want, d)
		}
	}
	if meta.MainModule != "index.js" || !strings.Contains(d, "\nindex.js=") {
		t.Errorf("main module %q, parts:\n%.300s", meta.MainModule, d)
	}
}

// TestRunWorkerIncrementNeedsWorkerURLs: without Worker listeners the
// run is refused before it sends anything.
func TestRunWorkerIncrementNeedsWorkerURLs(t *testing.T) {
	_, err := Run(context.Background(), Options{URLs: []string{"http://127.0.0.1:1"}, Duration: time.Second, Mix: Mix{OpWorkerIncrement: 1}})
	if err == nil || !strings.Contains(err.Error(), "WorkerURLs") {
		t.Fatalf("err %v, want the missing Worker listeners named", err)
	}
}

// TestMainAppTarget: --target app sends worker_increment as POST
// /<name>/increment to the URLs, which serve the application already:
// nothing is deployed, and nothing deleted at the end (the application
// has no route for it); other ops and a local cluster are refused.
func TestMainAppTarget(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // "METHOD /path" of anything but an increment
	var incs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/increment") && strings.Count(r.URL.Path, "/") == 2 {
			incs.Add(1)
			w.Write([]byte(`{"value":1}`))
			return
		}
		mu.Lock()
		seen[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	args := []string{"--target", "app", "--urls", srv.URL, "--op", "worker-increment", "-c", "2", "--duration", "150ms", "--warmup", "0s", "--objects", "3", "--json"}
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	s := res.ByOp["worker_increment"]
	if s.Successes == 0 || s.Errors != 0 || incs.Load() < s.Successes {
		t.Fatalf("worker_increment %+v, the application saw %d increments", s, incs.Load())
	}
	if len(seen) != 0 {
		t.Errorf("requests other than increments: %v", seen)
	}
	if !strings.Contains(stderr.String(), "the application cannot delete them") {
		t.Errorf("stderr does not say the counters stay:\n%s", stderr.String())
	}
	for name, args := range map[string][]string{
		"other op":      {"--target", "app", "--urls", srv.URL, "--op", "increment", "--duration", "100ms"},
		"local cluster": {"--target", "app", "--op", "worker-increment", "--duration", "100ms"},
	} {
		if err := Main(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// readDeploy reads a script upload's multipart parts as "name=content"
// lines.
func readDeploy(r *http.Request) (string, error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return strings.Join(parts, "\n"), nil
		}
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", err
		}
		parts = append(parts, p.FormName()+"="+string(b))
	}
}

// TestRunRPCIncrement: rpc_increment deploys the Worker ops' project
// (the same Counter worker_increment reaches) and calls its increment(1)
// through the operator route (the class found in the node's own copy of
// the registry, as a Worker finds it), spread over the nodes' API, never
// a Worker listener; WorkerStorageKV deploys it as its own script with the
// Counter under new_classes, for both Worker ops.
func TestRunRPCIncrement(t *testing.T) {
	for _, tc := range []struct {
		storage, script, want, not string
		mix                        Mix
	}{
		{"", "dobj-bench-counter", `"new_sqlite_classes":["Counter"]`, `"new_classes":["Counter"]`, Mix{OpRPCIncrement: 1}},
		{WorkerStorageKV, "dobj-bench-counter-kv", `"new_classes":["Counter"]`, `"new_sqlite_classes":["Counter"]`, Mix{OpRPCIncrement: 1, OpWorkerIncrement: 1}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			var deploys, other atomic.Int64
			var deployed atomic.Value
			var calls [2]atomic.Int64
			var urls []string
			for i := range calls {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					prefix := "/_scripts/" + tc.script + "/objects/Counter/p"
					switch {
					case r.Method == http.MethodPut && r.URL.Path == "/_scripts/"+tc.script:
						d, err := readDeploy(r)
						if err != nil {
							http.Error(w, err.Error(), http.StatusBadRequest)
							return
						}
						deploys.Add(1)
						deployed.Store(d)
						w.Write([]byte(`{"version":1}`))
					case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, prefix) && strings.HasSuffix(r.URL.Path, "/rpc/increment") &&
						strings.Count(r.URL.Path, "/") == 7 && r.URL.RawQuery == "consistency=stale":
						if b, _ := io.ReadAll(r.Body); string(b) != "[1]" {
							http.Error(w, "arguments "+string(b), http.StatusBadRequest)
							return
						}
						calls[i].Add(1)
						w.Write([]byte("1"))
					default:
						other.Add(1)
						http.Error(w, "unexpected", http.StatusNotFound)
					}
				}))
				t.Cleanup(srv.Close)
				urls = append(urls, srv.URL)
			}
			var workerCalls atomic.Int64
			worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				workerCalls.Add(1)
				w.Write([]byte(`{"value":1}`))
			}))
			t.Cleanup(worker.Close)
			res, err := Run(context.Background(), Options{URLs: urls, WorkerURLs: []string{worker.URL}, WorkerStorage: tc.storage,
				Clients: 4, Duration: 200 * time.Millisecond, Objects: 5, Prefix: "p", Mix: tc.mix})
			if err != nil {
				t.Fatal(err)
			}
			checkConsistent(t, res)
			rpc := res.ByOp["rpc_increment"]
			if res.Overall.Errors != 0 || rpc.Successes == 0 || rpc.Ops != calls[0].Load()+calls[1].Load() || other.Load() != 0 {
				t.Fatalf("rpc_increment %+v; the nodes saw %d and %d calls, %d other requests", rpc, calls[0].Load(), calls[1].Load(), other.Load())
			}
			if calls[0].Load() == 0 || calls[1].Load() == 0 || workerCalls.Load() != res.ByOp["worker_increment"].Ops {
				t.Fatalf("nodes saw %d and %d calls, the Worker listener %d (worker_increment %+v)", calls[0].Load(), calls[1].Load(),
					workerCalls.Load(), res.ByOp["worker_increment"])
			}
			d, _ := deployed.Load().(string)
			if deploys.Load() != 1 || !strings.Contains(d, tc.want) || strings.Contains(d, tc.not) || !strings.Contains(d, "async increment(by = 1)") {
				t.Fatalf("%d deploys, the last:\n%.800s", deploys.Load(), d)
			}
		})
	}
}
