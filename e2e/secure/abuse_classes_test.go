package secure

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// abuseModule is a class that does what issue 21 saw take a node's
// memory: module globals grown call after call, one call growing across
// timer steps, a native replaceAll building 2 GiB, request.json() of a
// MiB of "[", and a catastrophic regular expression.
const abuseModule = `
const hoard = [];
const mib = "x".repeat(1 << 20);
export class Abuse {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/hoard": hoard.push(mib + hoard.length); return new Response(String(hoard.length));
      case "/steps": {
        const mine = [];
        for (let i = 0; i < 4096; i++) { mine.push(mib + i); await new Promise((r) => setTimeout(r, 0)); }
        return new Response(String(mine.length));
      }
      case "/replace-all": return new Response(String(mib.replaceAll("x", "y".repeat(2048)).length));
      case "/json": return Response.json(await request.json());
      case "/regexp": return new Response(String(/^(a+)+\1$/.test("a".repeat(34) + "b")));
    }
    return new Response(String(hoard.length));
  }
}`

// abuseClasses deploys abuseModule on n and runs its worst calls: each
// must answer 500 with the limit it hit (the node stays up, and
// TestAbuse's /_health poll sees it answer throughout), and the class
// must answer again afterwards.
func abuseClasses(ctx context.Context, t *testing.T, n *secureNode, hc *http.Client, phase func(string)) {
	t.Helper()
	call := func(method, path, token string, body []byte) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, n.url()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := call("PUT", "/_classes/Abuse", adminToken, []byte(abuseModule)); st != 200 && st != 201 {
		t.Fatalf("deploy: %d %s", st, body)
	}
	want500 := func(what, path, wantDetail string, body []byte) {
		t.Helper()
		st, got := call("POST", "/do/Abuse/"+path, writeToken, body)
		if st != 500 || !strings.Contains(got, wantDetail) {
			t.Errorf("%s: %d %s, want 500 naming %q", what, st, got, wantDetail)
		}
	}

	// Module globals grown call after call: the runtime is retired.
	hoarded := 0
	for ; hoarded < 1024; hoarded++ {
		st, got := call("POST", "/do/Abuse/hoarder/hoard", writeToken, nil)
		if st == 500 && strings.Contains(got, "memory limit") {
			break
		}
		if st != 200 {
			t.Fatalf("hoard call %d: %d %s", hoarded, st, got)
		}
	}
	t.Logf("module-global growth stopped after %d calls of 1 MiB", hoarded)
	if hoarded == 1024 {
		t.Errorf("1 GiB hoarded in module globals, and no call was stopped")
	}
	phase("class: module-global growth")

	want500("growth across timer steps", "stepper/steps", "memory limit", nil)
	phase("class: growth across timer steps")
	want500("replaceAll of 2 GiB", "replacer/replace-all", "string too large", nil)
	phase("class: replaceAll of 2 GiB")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			want500("request.json() of a MiB of [", "json"+string(rune('a'+i))+"/json", "nested too deeply", bytes.Repeat([]byte("["), 1<<20))
		})
	}
	wg.Wait()
	phase("class: 4 request.json() of a MiB of [")
	want500("catastrophic regexp", "regexp/regexp", "cpu time limit", nil)
	phase("class: catastrophic regexp")

	if st, got := call("GET", "/do/Abuse/hoarder/", writeToken, nil); st != 200 {
		t.Fatalf("the class after the abuse: %d %s", st, got)
	}
}
