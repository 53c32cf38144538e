package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dobj/dobj/launch"
)

// fakeServe is a node whose "binary" is a shell script: it runs script
// (given `serve` and its arguments) with its output in the node's log.
// Its URL answers /_ready with 503, as a node that has no leader yet.
func fakeServe(t *testing.T, id, script string) *node {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-dobj")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"not-ready"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	p := launch.NewNode(bin, id, strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1:1", dir, filepath.Join(dir, id+".log"), []string{"--id", id})
	t.Cleanup(func() { p.Stop(time.Second) })
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return newNode(id, srv.URL, p)
}

// waitReady gives up on a cluster as soon as a node it started has
// exited, saying how it exited and what its log ends with: a node that
// panics or is killed must not look like one still starting.
func TestWaitReadyReportsAnExitedNode(t *testing.T) {
	t.Run("exits by itself", func(t *testing.T) {
		n := fakeServe(t, "n2", `echo "panic: the reason, $*" >&2; echo; echo "the end"; exit 3`)
		err := waitReady(context.Background(), []*node{n}, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "n2 (pid") || !strings.Contains(err.Error(), "exited: exit status 3: panic: the reason, serve --id n2;") ||
			!strings.Contains(err.Error(), "\nthe end") {
			t.Fatalf("err = %v, want n2's exit status and the end of its log", err)
		}
	})
	t.Run("killed from outside", func(t *testing.T) {
		n := fakeServe(t, "n3", `echo started; exec sleep 600`)
		if !poll(context.Background(), time.Minute, func(context.Context) bool { return n.proc.CountLogLines("started") > 0 }) {
			t.Fatal("the script never started")
		}
		if err := n.proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := waitReady(context.Background(), []*node{n}, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "signal: killed") || !strings.Contains(err.Error(), "started") {
			t.Fatalf("err = %v, want n3 killed and the end of its log", err)
		}
		if exits := n.proc.UnexpectedExits(); len(exits) != 1 {
			t.Fatalf("unexpected exits %q, want the kill", exits)
		}
	})
	t.Run("running but not ready", func(t *testing.T) {
		n := fakeServe(t, "n1", `exec sleep 600`)
		err := waitReady(context.Background(), []*node{n}, 300*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "not ready after") || !n.proc.Running() {
			t.Fatalf("err = %v (running %v), want not ready while running", err, n.proc.Running())
		}
	})
}
