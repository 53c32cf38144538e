package classes

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestWebAPIs(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		// Headers
		{"headers case-insensitive", `const h = new Headers({"Content-Type": "a/b"}); return [h.get("content-type"), h.has("CONTENT-TYPE"), h.get("x")]`,
			`["a/b",true,null]`},
		{"headers append joins", `const h = new Headers(); h.append("X-A", "1"); h.append("x-a", "2"); return h.get("X-A")`, `"1, 2"`},
		{"headers set delete", `const h = new Headers([["a", "1"]]); h.set("a", "2"); h.set("b", " 3 "); h.delete("a"); return [...h]`, `[["b","3"]]`},
		{"headers sorted iteration", `return [...new Headers({b: "2", a: "1", C: "3"}).keys()]`, `["a","b","c"]`},
		{"headers forEach", `const out = []; new Headers({a: "1"}).forEach((v, k) => out.push(k + "=" + v)); return out`, `["a=1"]`},
		{"headers from headers", `const h = new Headers(new Headers({a: "1"})); return h.get("a")`, `"1"`},
		{"headers bad name", `new Headers({"bad name": "x"})`, `!invalid header name`},
		{"headers set-cookie", `const h = new Headers(); h.append("Set-Cookie", "a=1"); h.append("Set-Cookie", "b=2"); return h.getSetCookie()`, `["a=1","b=2"]`},
		// URL
		{"url parts", `const u = new URL("https://user:pw@Example.com:8443/a/b?x=1&y=2#frag");
			return [u.protocol, u.username, u.password, u.hostname, u.port, u.host, u.pathname, u.search, u.hash, u.origin]`,
			`["https:","user","pw","example.com","8443","example.com:8443","/a/b","?x=1&y=2","#frag","https://example.com:8443"]`},
		{"url default port and path", `const u = new URL("http://h:80"); return [u.port, u.pathname, u.href]`, `["","/","http://h/"]`},
		{"url relative", `return new URL("../c?q", "http://h/a/b/").href`, `"http://h/a/c?q"`},
		{"url invalid", `new URL("not a url")`, `!invalid URL`},
		{"url canParse", `return [URL.canParse("http://x"), URL.canParse("nope")]`, `[true,false]`},
		{"url searchParams", `const u = new URL("http://h/p?a=1&b=x+y&a=2&c=%20"); const s = u.searchParams;
			return [s.get("a"), s.getAll("a"), s.get("b"), s.get("c"), s.has("z"), s.size]`, `["1",["1","2"],"x y"," ",false,4]`},
		{"url searchParams updates href", `const u = new URL("http://h/p?a=1"); u.searchParams.set("b", "x y&"); u.searchParams.delete("a"); return u.href`,
			`"http://h/p?b=x+y%26"`},
		{"url setters", `const u = new URL("http://h/p"); u.pathname = "q"; u.search = "z=1"; u.hash = "f"; return [u.href, String(u), JSON.stringify({u})]`,
			`["http://h/q?z=1#f","http://h/q?z=1#f","{\"u\":\"http://h/q?z=1#f\"}"]`},
		// URLSearchParams
		{"params from object", `return new URLSearchParams({a: "1", b: "two words"}).toString()`, `"a=1&b=two+words"`},
		{"params from pairs", `return new URLSearchParams([["a", "1"], ["a", "2"]]).getAll("a")`, `["1","2"]`},
		{"params from string", `const p = new URLSearchParams("?x=1&y=&z"); return [...p]`, `[["x","1"],["y",""],["z",""]]`},
		{"params sort", `const p = new URLSearchParams("b=2&a=1&b=1"); p.sort(); return p.toString()`, `"a=1&b=2&b=1"`},
		{"params encoding", `return new URLSearchParams({k: "!'()~*-._ é"}).toString()`, `"k=%21%27%28%29%7E*-._+%C3%A9"`},
		// TextEncoder / TextDecoder
		{"text encoder", `return [...new TextEncoder().encode("é☃")]`, `[195,169,226,152,131]`},
		{"text decoder", `return new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 104, 105, 0xff]))`, "\"hi\ufffd\""},
		{"text decoder view", `const b = new TextEncoder().encode("hello"); return new TextDecoder("utf-8").decode(b.subarray(1, 3))`, `"el"`},
		{"text decoder label", `new TextDecoder("latin1")`, `!unsupported encoding`},
		// crypto, base64, JSON, clone, microtasks
		{"randomUUID", `const a = crypto.randomUUID(), b = crypto.randomUUID();
			return [/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a), a !== b]`, `[true,true]`},
		{"getRandomValues", `const a = crypto.getRandomValues(new Uint32Array(8)); return [a.length, a.some((x) => x !== 0)]`, `[8,true]`},
		{"btoa atob", `return [btoa("hi\u00ff"), atob("aGn/"), atob(" aGk ")]`, "[\"aGn/\",\"hi\u00ff\",\"hi\"]"},
		{"btoa non latin1", `btoa("☃")`, `!InvalidCharacterError`},
		{"JSON", `return JSON.parse(JSON.stringify({a: [1, "x"]}))`, `{"a":[1,"x"]}`},
		{"structuredClone", `const m = new Map([["d", new Date(0)]]); const c = structuredClone(m); return [c !== m, c]`,
			`[true,Map{"d"=>Date(1970-01-01T00:00:00.000Z)}]`},
		{"queueMicrotask", `let x = 0; queueMicrotask(() => { x = 1 }); await null; return x`, `1`},
		// timers
		{"setTimeout order", `const out = [];
			await new Promise((res) => { setTimeout(() => out.push(2), 2); setTimeout(() => out.push(1), 1); setTimeout(() => { out.push(3); res() }, 3) });
			return out`, `[1,2,3]`},
		{"setTimeout args", `return await new Promise((res) => setTimeout(res, 0, "arg"))`, `"arg"`},
		{"clearTimeout", `let fired = false; const id = setTimeout(() => { fired = true }, 1); clearTimeout(id);
			await new Promise((res) => setTimeout(res, 5)); return fired`, `false`},
		// Request
		{"request", `const r = new Request("http://h/p?q=1", {method: "post", headers: {"X-A": "1"}, body: "{\"k\":2}"});
			return [r.method, r.url, r.headers.get("x-a"), r.headers.get("content-type"), await r.json()]`,
			`["POST","http://h/p?q=1","1","text/plain;charset=UTF-8",{"k":2}]`},
		{"request body once", `const r = new Request("http://h/", {method: "POST", body: "x"}); await r.text(); return r.text()`, `!already been used`},
		{"request clone", `const r = new Request("http://h/", {method: "PUT", body: "x"}); const c = r.clone(); return [await r.text(), await c.text(), c.method]`,
			`["x","x","PUT"]`},
		{"request get with body", `new Request("http://h/", {body: "x"})`, `!cannot have a body`},
		{"request arrayBuffer", `const r = new Request("http://h/", {method: "POST", body: new Uint8Array([104, 105])}); return new TextDecoder().decode(await r.arrayBuffer())`, `"hi"`},
		// Response
		{"response defaults", `const r = new Response("hi"); return [r.status, r.ok, r.headers.get("content-type"), await r.text()]`,
			`[200,true,"text/plain;charset=UTF-8","hi"]`},
		{"response json", `const r = Response.json({a: 1}, {status: 201, headers: {"x-b": "2"}}); return [r.status, r.headers.get("content-type"), r.headers.get("x-b"), await r.json()]`,
			`[201,"application/json","2",{"a":1}]`},
		{"response json 204", `Response.json({}, {status: 204})`, `!cannot have a body`},
		{"response json keeps content-type", `return Response.json(1, {headers: {"Content-Type": "application/x"}}).headers.get("content-type")`, `"application/x"`},
		{"response bad status", `new Response("x", {status: 99})`, `!not in the range`},
		{"response null body", `const r = new Response(null, {status: 204}); return [r.status, await r.text(), r.body]`, `[204,"",null]`},
		{"response 204 with body", `new Response("x", {status: 204})`, `!cannot have a body`},
		{"response redirect", `const r = Response.redirect("http://h/x", 301); return [r.status, r.headers.get("location")]`, `[301,"http://h/x"]`},
		{"response clone", `const r = new Response("x"); const c = r.clone(); return [await r.text(), await c.text()]`, `["x","x"]`},
		// ctx
		{"ctx.id", `return [ctx.id.name, ctx.id.toString(), String(ctx.id), ctx.id.equals({name: "obj"})]`, `["obj","obj","obj",true]`},
		{"env", `return Object.keys(this.env)`, `[]`},
		{"blockConcurrencyWhile", `const v = await ctx.blockConcurrencyWhile(async () => { await new Promise((r) => setTimeout(r, 1)); return 7 }); return v`, `7`},
		{"blockConcurrencyWhile throws", `await ctx.blockConcurrencyWhile(async () => { throw new Error("bcw") })`, `!bcw`},
		{"waitUntil writes committed", `ctx.waitUntil(new Promise((r) => setTimeout(r, 1)).then(() => storage.put("late", 1))); return 1`, `1`},
		{"no node globals", `return typeof process`, `"undefined"`},
		{"setInterval", `let n = 0; await new Promise((res) => { const id = setInterval(() => { if (++n === 3) { clearInterval(id); res() } }, 1) }); return n`, `3`},
		{"performance.now", `const a = performance.now(); await new Promise((r) => setTimeout(r, 2)); const b = performance.now(); return [typeof a, b > a]`, `["number",true]`},
		{"timers pending at the end are dropped", `setTimeout(() => { throw new Error("late") }, 1); return 1`, `1`},
		{"a throwing timer fails the call", `await new Promise((r) => { setTimeout(() => { throw new Error("in timer") }, 0); setTimeout(r, 5) })`, `!in timer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeState("obj")
			got, err := runBody(t, newTestEngine(t, Config{}), st, tt.body)
			if want, ok := strings.CutPrefix(tt.want, "!"); ok {
				if msg := scriptMessage(t, err); !strings.Contains(msg, want) {
					t.Fatalf("error %q, want it to contain %q", msg, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if tt.name == "waitUntil writes committed" && st.get("late") != "1" {
				t.Fatalf("the waitUntil write was not committed: %q", st.dump())
			}
		})
	}
}

// TestRequestResponseCrossTheBoundary: the Go Request reaches fetch whole,
// and fetch's Response comes back whole.
func TestRequestResponseCrossTheBoundary(t *testing.T) {
	p := mustCompile(t, "Echo", `
export class Echo {
  async fetch(request) {
    const u = new URL(request.url);
    const body = await request.text();
    const h = new Headers({"x-method": request.method, "x-q": u.searchParams.get("q"), "x-in": request.headers.get("x-in")});
    h.append("set-cookie", "a=1");
    h.append("set-cookie", "b=2");
    return new Response("echo:" + body, {status: 202, headers: h});
  }
}`)
	e := newTestEngine(t, Config{})
	st := newFakeState("o")
	req := &Request{Method: "PATCH", URL: "http://node/do/Echo/o/path?q=%C3%A9", Header: http.Header{"X-In": {"v1", "v2"}}, Body: []byte("héllo")}
	resp, err := e.Call(context.Background(), ClassRef{Name: "Echo", Version: 1, Program: p}, "o", req, st, st.commit)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 202 || string(resp.Body) != "echo:héllo" {
		t.Fatalf("response %d %q", resp.Status, resp.Body)
	}
	want := http.Header{
		"X-Method": {"PATCH"}, "X-Q": {"é"}, "X-In": {"v1, v2"}, "Set-Cookie": {"a=1", "b=2"},
		"Content-Type": {"text/plain;charset=UTF-8"},
	}
	for k, v := range want {
		if got := resp.Header.Values(k); strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(resp.Header) != len(want) {
		t.Errorf("headers %v, want %v", resp.Header, want)
	}
}

// TestLazyHeadersCrossTheBoundary: the headers a Request keeps unbuilt
// until read, and those Response.json keeps unbuilt until read, reach
// fetch and come back the same whether or not the class touched them.
func TestLazyHeadersCrossTheBoundary(t *testing.T) {
	tests := []struct {
		name, fetch string
		want        http.Header
	}{
		{"json untouched", `return Response.json({a: 1})`,
			http.Header{"Content-Type": {"application/json"}}},
		{"json headers read", `const r = Response.json(1); r.headers.get("content-type"); return r`,
			http.Header{"Content-Type": {"application/json"}}},
		{"json headers changed", `const r = Response.json(1); r.headers.set("x-a", "1"); return r`,
			http.Header{"Content-Type": {"application/json"}, "X-A": {"1"}}},
		{"json headers replaced", `const r = Response.json(1); r.headers = new Headers({"x-b": "2"}); return r`,
			http.Header{"X-B": {"2"}}},
		{"request headers unread", `return new Response(null, {status: 204})`, http.Header{}},
		{"request headers read", `return new Response(null, {status: 204, headers: {"x-in": request.headers.get("x-in")}})`,
			http.Header{"X-In": {"v"}}},
		{"request headers copied", `const c = new Request(request); return new Response(null, {status: 204, headers: c.headers})`,
			http.Header{"X-In": {"v"}}},
		{"request headers changed", `request.headers.set("x-in", "w"); return new Response(null, {status: 204, headers: request.headers})`,
			http.Header{"X-In": {"w"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, "H", "export class H { async fetch(request) { "+tt.fetch+" } }")
			st := newFakeState("o")
			req := &Request{Method: "GET", URL: "http://node/", Header: http.Header{"X-In": {"v"}}}
			resp, err := newTestEngine(t, Config{}).Call(context.Background(), ClassRef{Name: "H", Version: 1, Program: p}, "o", req, st, st.commit)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(resp.Header, tt.want, slices.Equal) {
				t.Fatalf("headers %v, want %v", resp.Header, tt.want)
			}
		})
	}
}

// TestConsoleLogs: console output goes to the engine's logger with the
// class and object.
func TestConsoleLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu syncWriter
	mu.w = &buf
	log := slog.New(slog.NewTextHandler(&mu, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newTestEngine(t, Config{Logger: log})
	p := mustCompile(t, "T", bodyModule(`console.log("hello", 1, {a: [2]}, new Map([["k", 1]])); console.warn("careful"); console.error(new Error("bad")); return 1`))
	if _, err := do(t, e, ClassRef{Name: "T", Version: 1, Program: p}, "obj-9", newFakeState("obj-9"), "GET", "/", ""); err != nil {
		t.Fatal(err)
	}
	out := mu.String()
	for _, re := range []string{
		`level=INFO msg="hello 1 {\\"a\\":\[2\]} Map\(1\) {\\"k\\":1}" class=T object=obj-9`,
		`level=WARN msg=careful class=T object=obj-9`,
		`level=ERROR msg="Error: bad`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("log lacks %s:\n%s", re, out)
		}
	}
}

// TestResponseBodies: every body kind reaches Go as bytes.
func TestResponseBodies(t *testing.T) {
	tests := []struct{ expr, want, ctype string }{
		{`new Response("héllo")`, "héllo", "text/plain;charset=UTF-8"},
		{`new Response(new Uint8Array([104, 105]))`, "hi", ""},
		{`new Response(new Uint8Array([0, 104, 105, 0]).subarray(1, 3))`, "hi", ""},
		{`new Response(new TextEncoder().encode("ab").buffer)`, "ab", ""},
		{`new Response(new URLSearchParams({a: "1 2"}))`, "a=1+2", "application/x-www-form-urlencoded;charset=UTF-8"},
		{`new Response(null)`, "", ""},
		{`new Response()`, "", ""},
		{`new Response(42)`, "42", "text/plain;charset=UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p := mustCompile(t, "R", `export class R { async fetch() { return `+tt.expr+` } }`)
			st := newFakeState("o")
			resp, err := do(t, newTestEngine(t, Config{}), ClassRef{Name: "R", Version: 1, Program: p}, "o", st, "GET", "/", "")
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Body) != tt.want || resp.Header.Get("Content-Type") != tt.ctype || resp.Status != 200 {
				t.Fatalf("%d %q %q, want 200 %q %q", resp.Status, resp.Body, resp.Header.Get("Content-Type"), tt.want, tt.ctype)
			}
		})
	}
}
