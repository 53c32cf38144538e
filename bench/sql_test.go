package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunSQLIncrement: sql_increment and sql_fill deploy the SQL counter
// project (its class listed under new_sqlite_classes, its UPDATE …
// RETURNING) and then call only the objects' operator routes.
func TestRunSQLIncrement(t *testing.T) {
	var deploy atomic.Value
	var calls, fills, other atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/_scripts/dobj-bench-sql":
			b, _ := io.ReadAll(r.Body)
			deploy.Store(string(b))
			w.Write([]byte(`{"name":"dobj-bench-sql","version":1}`))
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_scripts/dobj-bench-sql/objects/SQLCounter/p") &&
			strings.HasSuffix(r.URL.Path, "/increment") && strings.Count(r.URL.Path, "/") == 6:
			calls.Add(1)
			w.Write([]byte(`{"value":1}`))
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_scripts/dobj-bench-sql/objects/SQLCounter/p") &&
			strings.HasSuffix(r.URL.Path, "/fill") && r.URL.RawQuery == "kb=256":
			fills.Add(1)
			w.Write([]byte(`{"bytes":1}`))
		default:
			other.Add(1)
			http.Error(w, "unexpected", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Options{URLs: []string{srv.URL}, Clients: 4, Duration: 200 * time.Millisecond,
		Objects: 5, Prefix: "p", Warmup: 0, Mix: Mix{OpSQLIncrement: 1, OpSQLFill: 1}})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Errors != 0 || res.ByOp["sql_increment"].Ops != calls.Load() || res.ByOp["sql_fill"].Ops != fills.Load() ||
		calls.Load() == 0 || fills.Load() == 0 || other.Load() != 0 {
		t.Fatalf("overall %+v; %d increments, %d fills, %d other requests", res.Overall, calls.Load(), fills.Load(), other.Load())
	}
	d, _ := deploy.Load().(string)
	for _, want := range []string{`"new_sqlite_classes":["SQLCounter"]`, "UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v", "randomblob(?)"} {
		if !strings.Contains(d, want) {
			t.Errorf("the deploy lacks %s:\n%.600s", want, d)
		}
	}
}

// TestRunRqlite: the rqlite target makes its table with a row per
// object, then sends each sql_increment as UPDATE … RETURNING of one row
// to /db/execute, and counts an answer that reports an SQL error (rqlite
// says 200) as a failure.
func TestRunRqlite(t *testing.T) {
	var setup atomic.Value
	var calls, failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/db/execute":
			http.Error(w, "unexpected", http.StatusNotFound)
		case strings.Contains(body, "CREATE TABLE"):
			setup.Store(body)
			w.Write([]byte(`{"results":[{},{"rows_affected":3}]}`))
		case strings.HasPrefix(body, `[["UPDATE bench_counters SET v = v + 1 WHERE id = ? RETURNING v",`) && calls.Add(1)%3 == 0:
			failed.Add(1)
			w.Write([]byte(`{"results":[{"error":"database is locked"}]}`))
		default:
			w.Write([]byte(`{"results":[{"columns":["v"],"types":["integer"],"values":[[7]]}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Options{Target: TargetRqlite, URLs: []string{srv.URL}, Clients: 2, Duration: 200 * time.Millisecond,
		Objects: 3, Mix: Mix{OpSQLIncrement: 1}})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Overall.Successes == 0 || res.Overall.Errors == 0 || res.Overall.Errors > failed.Load() || res.Overall.Ops > calls.Load() {
		t.Fatalf("overall %+v; %d increments sent, %d failed", res.Overall, calls.Load(), failed.Load())
	}
	if s, _ := setup.Load().(string); !strings.Contains(s, "VALUES (0, 0),(1, 0),(2, 0)") {
		t.Fatalf("setup: %s", s)
	}
	if _, err := Run(context.Background(), Options{Target: TargetRqlite, URLs: []string{srv.URL}, Duration: time.Second, Mix: Mix{OpIncrement: 1}}); err == nil {
		t.Fatal("rqlite ran an op other than sql_increment")
	}
}
