package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestMainJSON(t *testing.T) {
	f := newFakeDobj(0)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), []string{"--urls", srv.URL, "-c", "2", "--duration", "150ms", "--warmup", "0s",
		"--mix", "increment=3,stale=1", "--objects", "4", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	checkConsistent(t, &res)
	if res.Target != "dobj" || res.Clients != 2 || res.Objects != 4 || res.Mix != "increment=3,stale_read=1" || len(res.ByOp) != 2 {
		t.Fatalf("result %+v", res)
	}
	if got := f.requests.Load(); got != res.Overall.Ops || res.Overall.Errors != 0 {
		t.Fatalf("server saw %d requests, result %+v", got, res.Overall)
	}
}

func TestMainReport(t *testing.T) {
	f := newFakeDobj(5)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), []string{"--urls", srv.URL, "-c", "1", "--duration", "100ms", "--warmup", "0s", "--mix", "increment=1,read=1", "--quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"p50 ms", "p99 ms", "increment", "read", "overall", "errors by status: 503="} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("--quiet printed %q", stderr.String())
	}
}

func TestMainHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(stderr.String(), "-mix") || !strings.Contains(stderr.String(), "-keep") {
		t.Fatalf("--help printed %q", stderr.String())
	}
}

func TestMainRejectsBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"--mix", "bogus=1", "--urls", "http://127.0.0.1:1"},
		{"--target", "etcd"}, // etcd needs --urls
		{"--urls", "http://127.0.0.1:1", "extra"},
		{"--no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		if err := Main(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("Main(%q) succeeded", args)
		}
	}
}

// TestMainRemovesWhatItWrote: against --urls, a run names its objects by
// a prefix of its own (in the report) and deletes them at the end, even
// when the cluster answers 503 now and then; --keep keeps them.
func TestMainRemovesWhatItWrote(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			f := newFakeDobj(7)
			srv := httptest.NewServer(f.handler())
			t.Cleanup(srv.Close)
			args := []string{"--urls", srv.URL, "-c", "2", "--duration", "150ms", "--warmup", "0s", "--mix", "increment=1,put=1", "--objects", "5", "--json"}
			if keep {
				args = append(args, "--keep")
			}
			var stdout, stderr bytes.Buffer
			if err := Main(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("Main: %v\n%s", err, stderr.String())
			}
			var res Result
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^bench-\d{8}T\d{6}-[0-9a-f]{4}-$`).MatchString(res.Prefix) {
				t.Fatalf("prefix %q, want bench-<time>-<hex>-", res.Prefix)
			}
			if !strings.Contains(stderr.String(), res.Prefix+"0") {
				t.Errorf("stderr does not name the run's objects:\n%s", stderr.String())
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for name := range f.counters {
				if !strings.HasPrefix(name, res.Prefix) {
					t.Errorf("object %q outside the run's prefix %q", name, res.Prefix)
				}
			}
			if keep {
				if len(f.deleted) != 0 || len(f.counters)+len(f.stored) == 0 {
					t.Fatalf("--keep: deleted %v, left %d counters %d stored", f.deleted, len(f.counters), len(f.stored))
				}
				return
			}
			if len(f.counters) != 0 || len(f.stored) != 0 {
				t.Errorf("left behind: counters %v, stored %d keys", f.counters, len(f.stored))
			}
			for i := range 5 {
				if f.deleted[fmt.Sprintf("%s%d", res.Prefix, i)] == 0 {
					t.Errorf("object %d not deleted: %v", i, f.deleted)
				}
			}
			if !strings.Contains(stderr.String(), "deleted the run's 5 objects") {
				t.Errorf("stderr does not say what was deleted:\n%s", stderr.String())
			}
		})
	}
}
