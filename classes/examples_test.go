package classes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// compileExample compiles examples/NAME, defaulting the class as `dobj
// deploy` does: the file's only exported class.
func compileExample(t testing.TB, name string) ClassRef {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	lang := JavaScript
	if filepath.Ext(name) == ".ts" {
		lang = TypeScript
	}
	classes, err := ExportedClasses(src, lang)
	if err != nil || len(classes) != 1 {
		t.Fatalf("ExportedClasses(%s) = %v, %v; want one", name, classes, err)
	}
	p, err := Compile(classes[0], src, lang)
	if err != nil {
		t.Fatal(err)
	}
	return ClassRef{Name: classes[0], Version: 1, Program: p}
}

// TestExampleCounter: examples/counter.js answers as the built-in counter.
func TestExampleCounter(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := compileExample(t, "counter.js")
	if ref.Name != "Counter" {
		t.Fatalf("class %s", ref.Name)
	}
	st := newFakeState("card-1")
	steps := []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/", 200, `{"name":"card-1","value":0}`},
		{"POST", "/increment", 200, `{"name":"card-1","value":1}`},
		{"POST", "/increment?by=5", 200, `{"name":"card-1","value":6}`},
		{"POST", "/decrement?by=2", 200, `{"name":"card-1","value":4}`},
		{"POST", "/decrement", 200, `{"name":"card-1","value":3}`},
		{"POST", "/increment?by=-10", 200, `{"name":"card-1","value":-7}`},
		{"GET", "/", 200, `{"name":"card-1","value":-7}`},
		{"POST", "/increment?key=hits&by=2", 200, `{"name":"card-1","key":"hits","value":2}`},
		{"GET", "/?key=hits", 200, `{"name":"card-1","key":"hits","value":2}`},
		{"POST", "/increment?by=x", 400, `{"error":"by must be an integer"}`},
		{"GET", "/nope", 404, `{"error":"no route GET /nope"}`},
	}
	for _, s := range steps {
		resp, err := do(t, e, ref, "card-1", st, s.method, s.path, "")
		if err != nil {
			t.Fatalf("%s %s: %v", s.method, s.path, err)
		}
		if resp.Status != s.status || string(resp.Body) != s.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s = %d %s (%s), want %d %s", s.method, s.path, resp.Status, resp.Body, resp.Header.Get("Content-Type"), s.status, s.want)
		}
	}
	// Stored as the built-in counter stores it: a plain JSON integer.
	if st.get("value") != "-7" || st.get("hits") != "2" {
		t.Fatalf("stored %q", st.dump())
	}
	st.load("value", `"text"`)
	if resp, err := do(t, e, ref, "card-1", st, "POST", "/increment", ""); err != nil || resp.Status != 409 {
		t.Fatalf("increment of a non-integer = %v, %v; want 409", resp, err)
	}
}

// TestExampleCounterConcurrent: concurrent increments through the engine
// are all counted.
func TestExampleCounterConcurrent(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := compileExample(t, "counter.js")
	st := newFakeState("c")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { mustDo(t, e, ref, "c", st, "POST", "/increment", "") })
	}
	wg.Wait()
	if st.get("value") != "100" {
		t.Fatalf("value %s after 100 increments", st.get("value"))
	}
}

// TestExampleRateLimiter: examples/ratelimiter.ts (TypeScript) grants
// capacity tokens, then 429s, then refills.
func TestExampleRateLimiter(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := compileExample(t, "ratelimiter.ts")
	if ref.Name != "RateLimiter" {
		t.Fatalf("class %s", ref.Name)
	}
	st := newFakeState("api")
	if got := mustDo(t, e, ref, "api", st, "PUT", "/config", `{"capacity":3,"rate":20}`); got != `{"capacity":3,"rate":20}` {
		t.Fatalf("config: %s", got)
	}
	e.Forget("RateLimiter") // the constructor must read the stored config
	take := func(key string) (int, map[string]any) {
		resp, err := do(t, e, ref, "api", st, "POST", "/take?key="+key, "")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatal(err)
		}
		return resp.Status, body
	}
	for i := range 3 {
		status, body := take("alice")
		if status != 200 || body["allowed"] != true || body["remaining"] != float64(2-i) {
			t.Fatalf("take %d: %d %v", i, status, body)
		}
	}
	status, body := take("alice")
	if status != 429 || body["allowed"] != false || body["retryAfterMs"] == nil {
		t.Fatalf("take over capacity: %d %v", status, body)
	}
	if status, _ := take("bob"); status != 200 {
		t.Fatalf("bob's bucket is not alice's: %d", status)
	}
	// At 20 tokens a second a token is back within 50ms: poll for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := take("alice")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refill: %d %v", status, body)
		}
		time.Sleep(time.Duration(body["retryAfterMs"].(float64)) * time.Millisecond)
	}
	var b struct{ Tokens float64 }
	if err := json.Unmarshal([]byte(st.get("bucket:alice")), &b); err != nil {
		t.Fatalf("stored bucket %s: %v", st.get("bucket:alice"), err)
	}
	if b.Tokens < 0 || b.Tokens >= 3 {
		t.Fatalf("stored tokens %s", strconv.FormatFloat(b.Tokens, 'f', -1, 64))
	}
	if resp, err := do(t, e, ref, "api", st, "POST", "/take", ""); err != nil || resp.Status != 400 {
		t.Fatalf("take without key: %v %v", resp, err)
	}
}
