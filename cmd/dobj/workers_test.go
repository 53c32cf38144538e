package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const workerProject = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(by: number = 1): Promise<number> {
    const v = ((await this.ctx.storage.get<number>("v")) ?? 0) + by;
    await this.ctx.storage.put("v", v);
    return v;
  }
}
export default {
  async fetch(request: Request, env: any): Promise<Response> {
    const n = await env.COUNTER.getByName("c1").increment(10);
    return new Response(env.GREETING + " " + n + " " + request.headers.get("cf-connecting-ip"));
  },
};
`

// TestServeWorkersAndRPC serves --worker-addr in process: a project
// deployed with dobj deploy answers there, and dobj rpc reaches the same
// object without a Worker.
func TestServeWorkersAndRPC(t *testing.T) {
	workerAddr, env := serveProject(t, workerProject)
	resp, err := http.Get("http://" + workerAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hi 10 127.0.0.1" {
		t.Fatalf("the Worker answered %d %q", resp.StatusCode, body)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"rpc", "small", "Counter", "c1", "increment", "5"}, env, &out, io.Discard); err != nil || out.String() != "15\n" {
		t.Fatalf("dobj rpc increment 5 = %q, %v; want 15", out.String(), err)
	}
	err = run(context.Background(), []string{"rpc", "small", "Counter", "c1", "nope"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TypeError: The RPC receiver does not implement the method") {
		t.Fatalf("dobj rpc of a missing method: %v", err)
	}
	if err := run(context.Background(), []string{"rpc", "small", "Counter", "c1", "increment", "five"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("a bad argument: %v", err)
	}
}

// serveProject runs serve of a one-node cluster in this process with a
// Worker listener, and deploys goodToml's project with src as its
// src/index.ts from the project's directory, now the current one. It
// returns the Worker listener's address and the environment that points
// the CLI at the node.
func serveProject(t *testing.T, src string) (workerAddr string, env func(string) string) {
	t.Helper()
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	workerAddr = freeAddr(t)
	url := "http://" + httpAddr
	runServe(t, io.Discard, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr, "--worker-addr", workerAddr)
	env = getenvOf(map[string]string{"DOBJ_URL": url})
	dir := writeProject(t, goodToml)
	if err := os.WriteFile(filepath.Join(dir, "src", "index.ts"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := run(context.Background(), []string{"deploy"}, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return workerAddr, env
}
