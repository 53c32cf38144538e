package classes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

// fakeState is one object's committed storage over an objects.Store, with
// an alarm; apply commits Effects to it as the FSM would.
type fakeState struct {
	object string

	mu      sync.Mutex
	store   *objects.Store
	alarm   int64
	hasAl   bool
	commits int
}

var _ State = (*fakeState)(nil)

func newFakeState(object string) *fakeState {
	return &fakeState{object: object, store: objects.NewStore()}
}

func (f *fakeState) Get(key string) (json.RawMessage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.store.Get(f.object, key)
}

func (f *fakeState) List(o objects.ListOptions) []objects.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, _, err := f.store.List(f.object, o)
	if err != nil {
		panic(err)
	}
	return entries
}

func (f *fakeState) Alarm() (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alarm, f.hasAl
}

func (f *fakeState) load(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store.Load(f.object, key, json.RawMessage(value))
}

// apply commits e as one transaction.
func (f *fakeState) apply(e Effects) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits++
	if len(e.Ops) > 0 {
		if _, err := f.store.Apply(f.object, objects.Txn{Success: e.Ops}); err != nil {
			return err
		}
	}
	if e.Alarm != nil {
		f.alarm, f.hasAl = e.Alarm.At, !e.Alarm.Delete
		if e.Alarm.Delete {
			f.alarm = 0
		}
	}
	return nil
}

// get returns key's stored JSON, "" when absent.
func (f *fakeState) get(key string) string {
	v, ok := f.Get(key)
	if !ok {
		return ""
	}
	return string(v)
}

func (f *fakeState) commit(e Effects, _ *Response) error { return f.apply(e) }

// mustCompile compiles a JavaScript module exporting class.
func mustCompile(t testing.TB, class, src string) *Program {
	t.Helper()
	p, err := Compile(class, []byte(src), JavaScript)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func newTestEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return NewEngine(cfg)
}

// do runs one call of method on path and returns the response.
func do(t testing.TB, e *Engine, ref ClassRef, object string, st *fakeState, method, path, body string) (*Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := &Request{Method: method, URL: "http://dobj.test" + path, Header: http.Header{}, Body: []byte(body)}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.Call(ctx, ref, object, req, st, st.commit)
}

// mustDo is do that fails the test on an error and returns the body.
func mustDo(t testing.TB, e *Engine, ref ClassRef, object string, st *fakeState, method, path, body string) string {
	t.Helper()
	resp, err := do(t, e, ref, object, st, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return string(resp.Body)
}

// scriptMessage returns err's ScriptError message, failing when it is not one.
func scriptMessage(t testing.TB, err error) string {
	t.Helper()
	var se *ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *ScriptError", err, err)
	}
	return se.Message
}

// showJS prints JavaScript values unambiguously (Map, Set, Date, undefined,
// NaN, -0, bigint), for tests to compare.
const showJS = `
function show(v) {
  if (v === undefined) return "undefined";
  if (v instanceof Map) return "Map{" + [...v].map(([k, x]) => show(k) + "=>" + show(x)).join(",") + "}";
  if (v instanceof Set) return "Set{" + [...v].map(show).join(",") + "}";
  if (v instanceof Date) return "Date(" + (isNaN(v) ? "invalid" : v.toISOString()) + ")";
  if (Array.isArray(v)) return "[" + v.map(show).join(",") + "]";
  if (typeof v === "bigint") return v + "n";
  if (Object.is(v, -0)) return "-0";
  if (typeof v === "number") return String(v);
  if (v !== null && typeof v === "object") return "{" + Object.keys(v).map((k) => JSON.stringify(k) + ":" + show(v[k])).join(",") + "}";
  return JSON.stringify(v);
}
`

// bodyModule is a class T whose fetch runs body (an async function body
// with ctx and storage in scope) and answers show(its result).
func bodyModule(body string) string {
	return showJS + `
export class T {
  constructor(ctx, env) { this.ctx = ctx; this.env = env; }
  async fetch(request) {
    const ctx = this.ctx, storage = ctx.storage;
    const r = await (async () => {` + body + `
    })();
    return new Response(show(r));
  }
  async alarm(info) {}
}`
}

// runBody compiles body as bodyModule and runs it once on st.
func runBody(t *testing.T, e *Engine, st *fakeState, body string) (string, error) {
	t.Helper()
	p := mustCompile(t, "T", bodyModule(body))
	resp, err := do(t, e, ClassRef{Name: "T", Version: 1, Program: p}, st.object, st, "GET", "/", "")
	if err != nil {
		return "", err
	}
	return string(resp.Body), nil
}

// dump is every key of st as key=json, in order.
func (f *fakeState) dump() []string {
	var out []string
	for _, e := range f.List(objects.ListOptions{}) {
		out = append(out, e.Key+"="+string(e.Value))
	}
	return out
}

// syncWriter is an io.Writer safe for concurrent use, for captured logs.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
