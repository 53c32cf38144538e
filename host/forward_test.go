package host

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dobj/dobj/cluster"
	"github.com/hashicorp/raft"
)

// TestPostRefusesDeclaredLengths: a forwarded call's answer whose header
// declares 2.4 billion header fields, with no bytes behind them, is an
// outcome-unknown failure (the leader had the call), not a slice sized by
// the declaration, which took the process's memory before the answer was
// read whole first.
func TestPostRefusesDeclaredLengths(t *testing.T) {
	answer := []byte{0x81, 0xa1, 'h', 0xdd, 0x92, 0xcb, 0x96, 0x9c}
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/msgpack")
		_, _ = w.Write(answer)
	}))
	defer leader.Close()
	h := &Host{peers: &peerClient{hc: leader.Client()}}
	addr := raft.ServerAddress(strings.TrimPrefix(leader.URL, "http://"))
	_, err := h.post(context.Background(), addr, forwardedCall{Class: "app:Counter", Name: "a", Method: "POST", URL: "/"})
	if !errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("a truncated answer declaring 2.4 billion header fields gave %v, want outcome unknown", err)
	}
}
