package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

// TestServeAnswersACallPastTheWriteTimeout: a call that runs until the
// class CPU limit, longer than the configured --http-write-timeout, still
// gets its answer (500, as documented) instead of a cut connection: the
// write timeout in force follows the limits.
func TestServeAnswersACallPastTheWriteTimeout(t *testing.T) {
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	url := "http://" + httpAddr
	runServe(t, io.Discard, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr,
		"--apply-timeout", "200ms", "--http-write-timeout", "500ms", "--class-cpu-limit", "1500ms")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client.New(url)
	src := []byte(`export class Loop { async fetch() { for (;;) {} } }`)
	if _, err := c.Deploy(ctx, "Loop", src, "js"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := c.Call(ctx, "Loop", "a", client.CallRequest{Method: http.MethodPost})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusInternalServerError {
		t.Fatalf("call of an endless loop after %v: %+v, %v; want a 500 problem", time.Since(start), res, err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("answered after %v, within the configured write timeout: the test shows nothing", took)
	}
}
