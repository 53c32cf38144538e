package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGCSetsTheMemoryLimit: --memory-limit becomes Go's soft memory
// limit, and serve's help documents it.
func TestTuneGCSetsTheMemoryLimit(t *testing.T) {
	limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(percent) })
	tuneGC(slog.New(slog.NewTextHandler(io.Discard, nil)), 3<<30)
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Fatalf("memory limit %d, want %d", got, 3<<30)
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, getenvOf(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n  --memory-limit int\n") {
		t.Fatalf("serve --help does not document --memory-limit:\n%s", out.String())
	}
}
