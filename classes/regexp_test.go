package classes

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// catastrophicModule's fetch runs a backtracking regular expression
// (a backreference: regexp2, not RE2) over ?n characters: exponential
// in n, minutes at 30; "/ok" answers at once.
const catastrophicModule = `
export class R {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/ok") return new Response("ok");
    const s = "a".repeat(Number(url.searchParams.get("n"))) + "b";
    if (url.searchParams.get("via") === "replace") return new Response(s.replace(/^(a+)+\1$/, ""));
    return new Response(String(/^(a+)+\1$/.test(s)));
  }
}`

// TestCatastrophicRegexpStopsAtTheCPULimit: a match goja cannot
// interrupt ends the call with ErrCPULimit before the CPU limit has
// passed, and the class's runtimes, all held by such calls, serve other
// objects again.
func TestCatastrophicRegexpStopsAtTheCPULimit(t *testing.T) {
	const cpuLimit = 8 * time.Second // far above regexpMatchTimeout
	e := newTestEngine(t, Config{CPULimit: cpuLimit, RuntimesPerClass: 2})
	ref := ClassRef{Name: "R", Version: 1, Program: mustCompile(t, "R", catastrophicModule)}

	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for i := range 2 { // one per runtime: every runtime of the class is held
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := fmt.Sprintf("slow%d", i)
			_, err := do(t, e, ref, o, newFakeState(o), "GET", []string{"/?n=32", "/?n=32&via=replace"}[i], "")
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cpuLimit):
		t.Fatalf("the catastrophic calls still run after the CPU limit of %s", cpuLimit)
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrCPULimit) {
			t.Fatalf("catastrophic call: %v, want ErrCPULimit", err)
		}
	}
	for _, o := range []string{"other", "slow0"} {
		if got := mustDo(t, e, ref, o, newFakeState(o), "GET", "/ok", ""); got != "ok" {
			t.Fatalf("%s after the catastrophic calls: %q", o, got)
		}
	}
}

// TestRegexpMethodsKeepTheirAnswers: timing the methods that match
// keeps what each answers, for RE2 and backtracking patterns alike.
func TestRegexpMethodsKeepTheirAnswers(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`/^(a+)\1$/.test("aaaa")`, `true`},
		{`/^(a+)\1$/.test("aaa")`, `false`},
		{`"x1y22z".replace(/\d+/g, "#")`, `"x#y#z"`},
		{`"abab".replace(/(a)(?=b)/g, "[$1]")`, `"[a]b[a]b"`},
		{`"a,b;;c".split(/[,;]+/)`, `["a","b","c"]`},
		{`"a1b2".match(/\d/g)`, `["1","2"]`},
		{`[..."a1b22".matchAll(/(\d)\1?/g)].map((m) => m[0] + "@" + m.index)`, `["1@1","22@3"]`},
		{`"hello".search(/l+/)`, `2`},
		{`(() => { const r = /o/y; r.lastIndex = 4; const m = r.exec("foo o"); return [m && m.index, r.lastIndex] })()`, `[4,5]`},
		{`/(?<y>\d{4})-(?<m>\d\d)/.exec("on 2026-12").groups.m`, `"12"`},
		{`[RegExp.prototype.test.name, RegExp.prototype[Symbol.replace].name, RegExp.prototype[Symbol.split].name]`, `["test","[Symbol.replace]","[Symbol.split]"]`},
	}
	e := newTestEngine(t, Config{})
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := runBody(t, e, newFakeState("o"), `return `+tt.expr)
			if err != nil || got != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
