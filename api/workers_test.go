package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/host"
)

// fakeWorkers serves script "app" on host app.example only; its Worker
// echoes what it got, or fails as the path says.
type fakeWorkers struct{}

func (fakeWorkers) RouteWorker(_ context.Context, h, path string) (string, error) {
	if h != "app.example" {
		return "", host.ErrNoRoute
	}
	return "app", nil
}

func (fakeWorkers) ServeWorkerSocket(http.ResponseWriter, *http.Request, string, *classes.Upgrade) (*host.CallResult, error) {
	return nil, errors.New("no sockets here")
}

func (fakeWorkers) ServeWorker(_ context.Context, script string, req *classes.Request, cf json.RawMessage) (*classes.Response, error) {
	switch {
	case strings.HasSuffix(req.URL, "/throw"):
		return nil, &host.CallError{Message: "TypeError: broke", Err: &classes.ScriptError{Name: "TypeError"}}
	case strings.HasSuffix(req.URL, "/unknown"):
		return nil, &host.CallError{Message: "x", Err: fmt.Errorf("%w: lost", cluster.ErrOutcomeUnknown)}
	}
	body := fmt.Sprintf("%s %s %s|cookie=%s|ip=%s|cf=%s|%s", script, req.Method, req.URL, req.Header.Get("Cookie"),
		req.Header.Get("CF-Connecting-IP"), cf, req.Body)
	return &classes.Response{Status: 201, Header: http.Header{"X-App": {"1"}}, Body: []byte(body)}, nil
}

func TestWorkerListener(t *testing.T) {
	ts := httptest.NewServer(NewWorkerHandler(WorkerConfig{MaxBodyBytes: 16}, fakeWorkers{}))
	defer ts.Close()
	do := func(host, path, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		req.Host = host
		req.Header.Set("Cookie", "dobj_session_n1=secret; theme=dark")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("app.example", "/card-1/increment?x=1", "hi")
	want := `app POST http://app.example/card-1/increment?x=1|cookie=theme=dark|ip=127.0.0.1|cf={"asn":0,"clientIp":"127.0.0.1","colo":"dobj","country":"XX","httpProtocol":"HTTP/1.1"}|hi`
	if resp.StatusCode != 201 || body != want || resp.Header.Get("X-App") != "1" {
		t.Fatalf("worker answer %d %q\nwant %q", resp.StatusCode, body, want)
	}
	for _, tt := range []struct {
		host, path, body string
		status           int
		detail           string
	}{
		{"other.example", "/", "", 404, "no Worker serves other.example/"},
		{"app.example", "/throw", "", 500, "TypeError: broke"},
		{"app.example", "/unknown", "", 504, "outcome is unknown"},
		{"app.example", "/big", strings.Repeat("x", 17), 413, "limit"},
	} {
		resp, body := do(tt.host, tt.path, tt.body)
		var p problem
		json.Unmarshal([]byte(body), &p)
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s%s = %d %s; want %d problem+json with %q", tt.host, tt.path, resp.StatusCode, body, tt.status, tt.detail)
		}
	}
}

// TestWorkerRequestAllocations bounds what making a Worker's request and
// its request.cf allocates: request.cf encoded from a map made and sorted
// each request took 24 allocations, from a struct 10.
func TestWorkerRequestAllocations(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8787/bench-1/increment", nil)
	r.Header.Set("User-Agent", "fasthttp")
	var cf json.RawMessage
	if n := testing.AllocsPerRun(100, func() { _, cf = workerRequest(r, nil) }); n > 12 {
		t.Errorf("a Worker's request allocates %.0f times, want at most 12", n)
	}
	if want := `{"asn":0,"clientIp":"192.0.2.1","colo":"dobj","country":"XX","httpProtocol":"HTTP/1.1"}`; string(cf) != want {
		t.Errorf("request.cf %s, want %s", cf, want)
	}
}
