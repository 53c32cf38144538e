package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWatchersCarryTokenAndTLS: --watches finds the leader and opens its
// streams with the run's token and TLS, as the load's requests do, and
// reaches the leader by the scheme of the URL it asked.
func TestWatchersCarryTokenAndTLS(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/_cluster/status" {
			json.NewEncoder(w).Encode(map[string]any{"leader": map[string]string{"id": "n1", "http_addr": strings.TrimPrefix(srv.URL, "https://")}})
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	tlsc := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	ctx := context.Background()
	base, err := resolveWatchURL(ctx, "leader", []string{srv.URL}, "T", tlsc)
	if err != nil || base != srv.URL {
		t.Fatalf("leader URL = %q, %v; want %s", base, err, srv.URL)
	}
	w, err := OpenWatchers(ctx, base, 3, 10, "p-", false, "T", tlsc)
	if err != nil {
		t.Fatalf("open watchers: %v", err)
	}
	if _, ended := w.Close(); ended != 0 {
		t.Fatalf("%d streams ended before Close", ended)
	}
	if _, err := OpenWatchers(ctx, base, 1, 10, "p-", false, "", tlsc); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("watchers without the token: %v, want the server's 401", err)
	}
}
