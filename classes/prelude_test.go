package classes

import (
	"io/fs"
	"slices"
	"testing"
)

// TestPreludeRunsEveryPart: each file in js/ but websocket.js and
// workers.js (programs of their own) is a part of the prelude, named once in preludeParts, so
// none is left out of the runtime or run twice.
func TestPreludeRunsEveryPart(t *testing.T) {
	files, err := fs.Glob(preludeFiles, "js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if f != "js/websocket.js" && f != "js/workers.js" {
			want = append(want, f[len("js/"):])
		}
	}
	got := slices.Sorted(slices.Values(preludeParts))
	if !slices.Equal(got, want) || len(slices.Compact(got)) != len(preludeParts) {
		t.Fatalf("preludeParts %v, want each of %v once", preludeParts, want)
	}
}
