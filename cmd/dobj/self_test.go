package main

import "testing"

func TestSelfCommand(t *testing.T) {
	for _, c := range []struct{ argv0, want string }{
		{"/tmp/go-build3142/b001/exe/dobj", "go run ./cmd/dobj"},
		{"./dobj", "./dobj"},
		{"dobj", "dobj"},
		{"/usr/local/bin/dobj", "/usr/local/bin/dobj"},
		{"", "dobj"},
	} {
		if got := selfCommandOf(c.argv0); got != c.want {
			t.Errorf("selfCommandOf(%q) = %q, want %q", c.argv0, got, c.want)
		}
	}
}
