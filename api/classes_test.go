package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/objects"
)

var _ Host = (*fakeClassNode)(nil)

// fakeClassNode is fakeNode with a class registry and a scripted Call.
type fakeClassNode struct {
	*fakeNode
	cmu      sync.Mutex
	classes  map[string]cluster.Class
	calls    []classCall
	callErr  error
	response *classes.Response
}

type classCall struct {
	class, name string
	req         *classes.Request
	idemKey     string
}

func newFakeClassNode() *fakeClassNode {
	return &fakeClassNode{fakeNode: newFakeNode(), classes: map[string]cluster.Class{}}
}

func (f *fakeClassNode) DeployClass(ctx context.Context, name string, lang classes.Lang, source []byte) (uint64, error) {
	if f.follower {
		return 0, cluster.ErrNotLeader
	}
	f.cmu.Lock()
	defer f.cmu.Unlock()
	v := uint64(len(f.classes) + 10)
	f.classes[name] = cluster.Class{Name: name, Lang: string(lang), Source: source, Version: v}
	return v, nil
}

func (f *fakeClassNode) DeleteClass(ctx context.Context, name string) (bool, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	_, ok := f.classes[name]
	delete(f.classes, name)
	return ok, nil
}

func (f *fakeClassNode) Class(name string) (cluster.Class, bool) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	c, ok := f.classes[name]
	return c, ok
}

func (f *fakeClassNode) Classes() []cluster.Class {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	var out []cluster.Class
	for _, c := range f.classes {
		out = append(out, cluster.Class{Name: c.Name, Lang: c.Lang, Version: c.Version})
	}
	return out
}

func (f *fakeClassNode) CallStub(ctx context.Context, class string, id classes.StubID, req *classes.Request, idemKey string) (*host.CallResult, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	f.calls = append(f.calls, classCall{class, id.ID, req, idemKey})
	if _, ok := f.classes[class]; !ok {
		return nil, host.ErrClassNotFound
	}
	if f.callErr != nil {
		return nil, f.callErr
	}
	return &host.CallResult{Response: f.response, Index: 42}, nil
}

func TestClassRegistryRoutes(t *testing.T) {
	f := newFakeClassNode()
	ts := serve(t, Config{}, f)
	src := "export class Counter { async fetch(r) { return new Response('x') } }"

	r := call(t, ts.URL, http.MethodPut, "/_classes/Counter", src, "Content-Type", "application/javascript")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"version":10`) || r.header.Get(headerIndex) != "10" {
		t.Fatalf("deploy = %+v", r)
	}
	r = call(t, ts.URL, http.MethodPut, "/_classes/Limiter", "export class Limiter {}", "Content-Type", "application/typescript")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"lang":"ts"`) {
		t.Fatalf("deploy ts = %+v", r)
	}
	if c, _ := f.Class("Limiter"); c.Lang != "ts" {
		t.Fatalf("Content-Type application/typescript deployed as %q", c.Lang)
	}
	r = call(t, ts.URL, http.MethodPut, "/_classes/Z%C3%A4hler", "export class Zähler {}")
	if _, ok := f.Class("Zähler"); r.status != http.StatusOK || !ok {
		t.Fatalf("deploy of a Unicode identifier = %+v", r)
	}
	delete(f.classes, "Zähler")
	r = call(t, ts.URL, http.MethodGet, "/_classes/Counter", "")
	if r.status != http.StatusOK || r.body != src || r.header.Get("Content-Type") != "application/javascript" || r.header.Get("X-Dobj-Class-Version") != "10" {
		t.Fatalf("get source = %+v", r)
	}
	r = call(t, ts.URL, http.MethodGet, "/_classes", "")
	var list struct {
		Classes []classInfo `json:"classes"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Classes) != 2 {
		t.Fatalf("list = %+v (%v)", r, err)
	}
	r = call(t, ts.URL, http.MethodDelete, "/_classes/Counter", "")
	if r.status != http.StatusOK || r.body != "{\"deleted\":true}\n" {
		t.Fatalf("delete = %+v", r)
	}
	if r = call(t, ts.URL, http.MethodGet, "/_classes/Counter", ""); r.status != http.StatusNotFound {
		t.Fatalf("source of a deleted class = %+v", r)
	}
}

func TestClassRoutesRejectBadInput(t *testing.T) {
	f := newFakeClassNode()
	ts := serve(t, Config{MaxBodyBytes: 64}, f)
	tests := []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"class name not an identifier", http.MethodPut, "/_classes/9lives", "x", 400, "JavaScript identifier"},
		{"class name too long", http.MethodPut, "/_classes/" + strings.Repeat("A", 65), "x", 400, "64 bytes"},
		{"bad lang", http.MethodPut, "/_classes/A?lang=rust", "x", 400, "lang"},
		{"source over the body limit", http.MethodPut, "/_classes/A", strings.Repeat("x", 65), 413, "larger"},
		{"call of an unknown class", http.MethodGet, "/do/Nope/o1/x", "", 404, "Nope"},
		{"object named do", http.MethodGet, "/do", "", 400, "reserved"},
		{"increment of object do", http.MethodPost, "/do/increment", "", 400, "reserved"},
		{"call with a bad class", http.MethodGet, "/do/a-b/o1/", "", 400, "identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts.URL, tt.method, tt.path, tt.body)
			if r.status != tt.status || !strings.Contains(r.body, tt.detail) || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s = %+v, want %d naming %q", tt.method, tt.path, r, tt.status, tt.detail)
			}
		})
	}
	if len(f.classes) != 0 {
		t.Fatalf("a refused deploy registered %v", f.classes)
	}
}

func TestClassCallRoute(t *testing.T) {
	f := newFakeClassNode()
	f.classes["Counter"] = cluster.Class{Name: "Counter", Version: 3}
	f.response = &classes.Response{Status: 201, Header: http.Header{"Content-Type": {"text/plain"}, "X-Class": {"a", "b"}}, Body: []byte("made")}
	ts := serve(t, Config{}, f)

	r := call(t, ts.URL, http.MethodPost, "/do/Counter/card%2F1/a/b%20c?x=1&y=2", "payload", "Idempotency-Key", "k1", "X-Mine", "m")
	if r.status != 201 || r.body != "made" || r.header.Get("Content-Type") != "text/plain" || len(r.header.Values("X-Class")) != 2 || r.header.Get(headerIndex) != "42" {
		t.Fatalf("call answer = %+v", r)
	}
	got := f.calls[0]
	if got.class != "Counter" || got.name != "card/1" || got.idemKey != "k1" || got.req.Method != http.MethodPost ||
		string(got.req.Body) != "payload" || got.req.Header.Get("X-Mine") != "m" {
		t.Fatalf("call = %+v req %+v", got, got.req)
	}
	if !strings.HasSuffix(got.req.URL, "/a/b%20c?x=1&y=2") || !strings.HasPrefix(got.req.URL, "http://127.0.0.1:") {
		t.Fatalf("fetch sees URL %q, want the object-relative path with the query", got.req.URL)
	}
	if r := call(t, ts.URL, http.MethodGet, "/do/Counter/c2", ""); r.status != 201 || !strings.HasSuffix(f.calls[1].req.URL, "/") {
		t.Fatalf("call without a path = %+v, URL %q", r, f.calls[1].req.URL)
	}

	tests := []struct {
		name   string
		err    error
		status int
		detail string
	}{
		{"the code threw", &host.CallError{Message: "boom: x is not defined"}, 500, "boom: x is not defined"},
		{"not applied", fmt.Errorf("%w: no leader", cluster.ErrNotApplied), 503, "not applied"},
		{"outcome unknown", fmt.Errorf("%w: timeout", cluster.ErrOutcomeUnknown), 504, "may or may not"},
		{"idempotency table full", fsm.ErrIdempotencyFull, 503, "idempotency table is full"},
		{"key reused for another call", fsm.ErrIdempotencyMismatch, 422, "different request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.cmu.Lock()
			f.callErr = tt.err
			f.cmu.Unlock()
			r := call(t, ts.URL, http.MethodPost, "/do/Counter/c1/increment", "")
			if r.status != tt.status || !strings.Contains(r.body, tt.detail) {
				t.Fatalf("answer = %+v, want %d with %q", r, tt.status, tt.detail)
			}
			if tt.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %+v", r)
			}
		})
	}
}

func TestClassObjectStorageRoutes(t *testing.T) {
	f := newFakeClassNode()
	for _, kv := range [][2]string{{"a", `1`}, {"b/c", `"x"`}, {"d", `{"e":true}`}} {
		if _, err := f.store.Apply(fsm.ClassObject("Counter", "c1"), objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: kv[0], Value: json.RawMessage(kv[1])}}}); err != nil {
			t.Fatal(err)
		}
	}
	ts := serve(t, Config{}, f)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/_classes/Counter/objects/c1/storage/b%2Fc", 200, `"x"`},
		{"/_classes/Counter/objects/c1/storage/b/c", 200, `"x"`},
		{"/_classes/Counter/objects/c1/storage/zz", 404, "absent"},
		{"/_classes/Counter/objects/c1/storage?start=b&limit=1", 200, `{"entries":[{"key":"b/c","value":"x"}],"more":true}` + "\n"},
		{"/_classes/Counter/objects/c1/storage?reverse=true&consistency=stale", 200, `{"entries":[{"key":"d","value":{"e":true}},{"key":"b/c","value":"x"},{"key":"a","value":1}],"more":false}` + "\n"},
		{"/_classes/Counter/objects/other/storage", 200, `{"entries":[],"more":false}` + "\n"},
		{"/_classes/9/objects/c1/storage", 400, "identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, ts.URL, http.MethodGet, tt.path, "")
			if r.status != tt.status || (tt.status == 200 && r.body != tt.body) || (tt.status != 200 && !strings.Contains(r.body, tt.body)) {
				t.Fatalf("GET %s = %+v, want %d %s", tt.path, r, tt.status, tt.body)
			}
		})
	}
	// The built-in routes cannot reach a class object's storage.
	if r := call(t, ts.URL, http.MethodGet, "/_do%2FCounter%2Fc1/storage", ""); r.status != 400 {
		t.Fatalf("built-in route on a class object = %+v", r)
	}
}
