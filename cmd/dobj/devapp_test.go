package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

// workerSays is a Worker answering text.
func workerSays(text string) string {
	return `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export default { async fetch(): Promise<Response> { return new Response("` + text + `"); } };
`
}

// TestWatchAppRedeploys: dev --app's loop deploys the project, redeploys
// it when a source file changes, reports a broken save by file and line
// while the previous version keeps serving, and picks up the fix; with
// node 1 down, through another node.
func TestWatchAppRedeploys(t *testing.T) {
	httpAddr, raftAddr, workerAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	url := "http://" + httpAddr
	runServe(t, io.Discard, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr, "--worker-addr", workerAddr)
	dir := writeProject(t, goodToml)
	src := filepath.Join(dir, "src", "index.ts")
	save := func(code string) {
		t.Helper()
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	save(workerSays("one"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var out syncBuffer
	go func() {
		defer close(done)
		// Node 1 is down: the deploys go through the next node.
		nodes := []*client.Client{client.New("http://" + freeAddr(t)), client.New(url)}
		watchApp(ctx, &out, nodes, dir, []string{"http://" + workerAddr}, 20*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()

	waitWorker(t, workerAddr, "one")
	save(workerSays("two"))
	waitWorker(t, workerAddr, "two")
	save(workerSays("three") + "\nexport const broken = ;\n")
	if !pollUntil(10*time.Second, func() bool { return strings.Contains(out.String(), "src/index.ts:5:23: Unexpected") }) {
		t.Fatalf("a broken save should be reported by file and line:\n%s", out.String())
	}
	waitWorker(t, workerAddr, "two")
	save(workerSays("four"))
	waitWorker(t, workerAddr, "four")
	if got := out.String(); strings.Count(got, "; Workers: http://"+workerAddr+"\n") != 3 || !strings.Contains(got, "deployed small version ") {
		t.Errorf("the output should name three deployed versions and the Workers:\n%s", got)
	}
}

// waitWorker polls the Worker listener at addr until it answers want.
func waitWorker(t *testing.T, addr, want string) {
	t.Helper()
	var last string
	ok := pollUntil(10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(body)
		return resp.StatusCode == 200 && last == want
	})
	if !ok {
		t.Fatalf("the Worker never answered %q; last %q", want, last)
	}
}

func pollUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// deployTo goes on to the next node when one is down or has no leader
// (503), and stops at any other answer: a refusal is the project's.
func TestDeployToNextNode(t *testing.T) {
	var hits []string
	node := func(name string, status int) *client.Client {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits = append(hits, name)
			if status != http.StatusOK {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"type":"x","title":"x","status":%d,"detail":"from %s"}`, status, name)
				return
			}
			fmt.Fprintf(w, `{"script":"app","version":7,"applied_migrations":[],"classes":[]}`)
		}))
		t.Cleanup(ts.Close)
		return client.New(ts.URL)
	}
	down := client.New("http://" + freeAddr(t))
	meta := client.ScriptMetadata{MainModule: "index.js"}
	mods := []client.ScriptModule{{Name: "index.js", Content: []byte("export default {}")}}
	out, err := deployTo(context.Background(), []*client.Client{down, node("n2", 503), node("n3", 200)}, "app", meta, mods)
	if err != nil || out.Version != 7 || strings.Join(hits, ",") != "n2,n3" {
		t.Fatalf("deploy = %+v, %v after %v; want version 7 from n3", out, err, hits)
	}
	hits = nil
	_, err = deployTo(context.Background(), []*client.Client{node("n1", 400), node("n2", 200)}, "app", meta, mods)
	if err == nil || !strings.Contains(err.Error(), "from n1") || strings.Join(hits, ",") != "n1" {
		t.Fatalf("a refusal: %v after %v; want n1's, and no other node tried", err, hits)
	}
}
