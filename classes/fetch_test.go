package classes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHostAllowed(t *testing.T) {
	patterns := []string{"api.example.com", "*.example.org", "127.0.0.1:*", "h.test:8080", "[::1]:*"}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.example.com/x", true},
		{"http://API.example.com/x", true},
		{"https://api.example.com:8443/x", false},
		{"https://example.com/", false},
		{"https://a.example.org/", true},
		{"https://a.b.example.org/", true},
		{"https://example.org/", false},
		{"https://badexample.org/", false},
		{"http://127.0.0.1:1234/", true},
		{"http://127.0.0.1/", true},
		{"http://127.0.0.2:1234/", false},
		{"http://h.test:8080/", true},
		{"http://h.test/", false},
		{"http://[::1]:99/", true},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(patterns, u); got != tt.want {
			t.Errorf("hostAllowed(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
	u, _ := url.Parse("https://anything.test/")
	if hostAllowed(nil, u) || !hostAllowed([]string{"*"}, u) {
		t.Error("no patterns must allow nothing and * everything")
	}
}

// outboundServer is a loopback server for fetch to reach.
func outboundServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s", r.Header.Get("X-Token"), r.Header.Get("Content-Type"), b)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/echo", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.test/", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2<<20)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestOutboundFetch(t *testing.T) {
	s := outboundServer(t)
	allowed := Config{OutboundAllow: []string{"127.0.0.1:*"}, OutboundTimeout: 2 * time.Second}
	u := s.URL
	runBodyCases(t, allowed, []bodyCase{
		{"post", `const r = await fetch("` + u + `/echo", {method: "POST", headers: {"x-token": "t"}, body: "hi"});
			return [r.status, r.statusText, r.ok, r.headers.get("x-method"), r.headers.getSetCookie(), r.url, r.redirected, await r.text()]`,
			`[201,"Created",true,"POST",["a=1","b=2"],"` + u + `/echo",false,"t text/plain;charset=UTF-8 hi"]`},
		{"request object and json", `const r = await fetch(new Request("` + u + `/echo", {method: "PUT", body: JSON.stringify({a: 1})})); return await r.text()`,
			`" text/plain;charset=UTF-8 {\"a\":1}"`},
		{"redirect followed", `const r = await fetch("` + u + `/redirect"); return [r.status, r.redirected, r.url]`, `[201,true,"` + u + `/echo"]`},
		{"redirect manual", `const r = await fetch("` + u + `/redirect", {redirect: "manual"}); return [r.status, r.headers.get("location")]`, `[302,"/echo"]`},
		{"redirect to a host not allowed", `await fetch("` + u + `/away")`, `!the redirect to elsewhere.test is not allowed`},
		{"concurrent with timers", `const out = []; await Promise.all([fetch("` + u + `/echo").then(() => out.push("f")), scheduler.wait(1).then(() => out.push("t"))]);
			return out.length`, `2`},
		{"response over the limit", `await fetch("` + u + `/big")`, `!over 1048576 bytes`},
		{"timeout", `await fetch("` + u + `/slow")`, `!fetch failed`},
		{"host not allowed", `await fetch("http://localhost:1/")`, `!outbound fetch to localhost:1 is not allowed: dobj serve --outbound-allow`},
		{"not http", `await fetch("ftp://127.0.0.1/")`, `!not an http or https URL`},
		{"abort in flight", `const c = new AbortController(); const p = fetch("` + u + `/slow", {signal: c.signal});
			await scheduler.wait(5); c.abort("stop"); try { await p } catch (e) { return e }`, `"stop"`},
		{"aborted signal", `await fetch("` + u + `/echo", {signal: AbortSignal.abort()})`, `!AbortError`},
		{"rejects, does not throw", `const p = fetch("http://nope.test/"); try { await p } catch (e) { return [p instanceof Promise, e instanceof TypeError] }`,
			`[true,true]`},
	})
	runBodyCases(t, Config{}, []bodyCase{
		{"none allowed by default", `try { await fetch("` + u + `/echo") } catch (e) { return [e instanceof TypeError, e.message] }`,
			`[true,"outbound fetch to ` + strings.TrimPrefix(u, "http://") + ` is not allowed: dobj serve --outbound-allow"]`},
	})
}

// TestOutboundFetchBounds: the response limit's error carries the
// sentinel, and the call's deadline bounds a fetch.
func TestOutboundFetchBounds(t *testing.T) {
	s := outboundServer(t)
	e := newTestEngine(t, Config{OutboundAllow: []string{"127.0.0.1:*"}})
	p := mustCompile(t, "F", `export class F { async fetch(req) { return await fetch("`+s.URL+`" + new URL(req.url).pathname) } }`)
	ref := ClassRef{Name: "F", Version: 1, Program: p}
	if _, err := do(t, e, ref, "o", newFakeState("o"), "GET", "/big", ""); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("a fetched body over the limit: %v, want ErrResponseTooLarge", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st := newFakeState("o")
	start := time.Now()
	_, err := e.Call(ctx, ref, "o", &Request{Method: "GET", URL: "http://o/slow", Header: http.Header{}}, st, st.commit)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a fetch past the call's deadline: %v after %s", err, time.Since(start))
	}
}
