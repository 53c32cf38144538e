package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const loggingProject = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(): Promise<number> {
    console.log("object says hi");
    return 1;
  }
}
export default {
  async fetch(request: Request, env: any): Promise<Response> {
    console.log("worker saw " + new URL(request.url).pathname);
    await env.COUNTER.getByName("c1").increment();
    return new Response("ok");
  },
};
`

// TestTailFollowsConsole: dobj tail prints a Worker's console.log line,
// and its object's with the class and object, as a request through the
// Worker listener logs them.
func TestTailFollowsConsole(t *testing.T) {
	workerAddr, env := serveProject(t, loggingProject)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"tail"}, env, &out, &errOut) }() // the script of the project in .
	defer func() { cancel(); <-done }()
	if !pollUntil(10*time.Second, func() bool { return strings.Contains(errOut.String(), "following small on n1") }) {
		t.Fatalf("tail never followed n1: %s", errOut.String())
	}
	resp, err := http.Get("http://" + workerAddr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An object's line names its class and its id (the 64 hex digits
	// idFromName gives).
	want := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} n1 info worker saw /hello\n` +
		`\d\d:\d\d:\d\d\.\d{3} n1 info \[Counter [0-9a-f]{64}\] object says hi\n`)
	if !pollUntil(10*time.Second, func() bool { return want.MatchString(out.String()) }) {
		t.Fatalf("tail printed %q, want lines matching %s", out.String(), want)
	}
}
