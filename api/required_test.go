package api

import (
	"net/http"
	"testing"
)

// TestEveryNodeServesEveryRoute: what the routes need of a node is
// required by New's types, not discovered at run time, so a node (here
// the plain fake, which keeps no classes and no scripts) serves the class
// and script routes and answers them, rather than lacking them (404).
func TestEveryNodeServesEveryRoute(t *testing.T) {
	ts := serve(t, Config{}, newFakeNode())
	for _, path := range []string{"/_classes", "/_scripts"} {
		if r := call(t, ts.URL, http.MethodGet, path, ""); r.status != http.StatusOK {
			t.Fatalf("GET %s on a node with none = %d %s, want 200", path, r.status, r.body)
		}
	}
}
