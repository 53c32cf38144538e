package check

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// partitionServer answers POST /_test/partition: unavailable for the first
// refuse calls (a node still starting), then as a healed node. It counts
// the calls that asked to clear the partition.
func partitionServer(t *testing.T, refuse int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Blocked []string `json:"blocked"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/_test/partition" ||
			json.NewDecoder(r.Body).Decode(&body) != nil || body.Blocked == nil || len(body.Blocked) != 0 {
			http.Error(w, `{"error":"bad-request"}`, http.StatusBadRequest)
			return
		}
		if calls.Add(1) <= refuse {
			http.Error(w, `{"error":"not-ready"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"blocked":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// A node restarted by the last fault may not answer yet when the run
// heals: the heal asks again until it does.
func TestHealPartitionWaitsForAStartingNode(t *testing.T) {
	srv, calls := partitionServer(t, 2)
	if err := healPartition(context.Background(), newNode("n1", srv.URL, nil), 10*time.Second); err != nil {
		t.Fatalf("heal: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d partition calls, want 3 (two refused, then the heal)", n)
	}
}

func TestHealPartitionGivesUpAfterTimeout(t *testing.T) {
	srv, calls := partitionServer(t, 1<<30)
	err := healPartition(context.Background(), newNode("n1", srv.URL, nil), 3*pollPeriod)
	if err == nil || !strings.HasPrefix(err.Error(), "n1: ") {
		t.Fatalf("heal of a node that never answers: err %v, want one naming n1", err)
	}
	if calls.Load() < 2 {
		t.Fatalf("%d partition calls, want it asked again before giving up", calls.Load())
	}
}
