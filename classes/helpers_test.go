package classes

import (
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
