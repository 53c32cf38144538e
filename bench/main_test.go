package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
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
	if !strings.Contains(stderr.String(), "-mix") {
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
