package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
)

func TestSystemRoutes(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1", Faults: true, LogFile: "/var/log/n1.log"}, node)

	r := call(t, ts.URL, "GET", "/_health", "")
	if r.status != 200 || r.body != `{"ok":true}`+"\n" {
		t.Fatalf("health = %d %s", r.status, r.body)
	}
	r = call(t, ts.URL, "GET", "/_ready", "")
	if r.status != 200 || r.body != `{"ready":true}`+"\n" {
		t.Fatalf("ready = %d %s", r.status, r.body)
	}
	node.mu.Lock()
	node.notReady = true
	node.mu.Unlock()
	expectProblem(t, call(t, ts.URL, "GET", "/_ready", ""), http.StatusServiceUnavailable, "unavailable")

	r = call(t, ts.URL, "GET", "/_cluster/status", "")
	var st apitypes.Status
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || r.status != 200 {
		t.Fatalf("status = %d %s: %v", r.status, r.body, err)
	}
	if st.ID != "n1" || st.State != "leader" || st.Leader.HTTPAddr != "127.0.0.1:8081" || len(st.Members) != 1 || st.Members[0].Suffrage != "voter" {
		t.Fatalf("status = %+v", st)
	}
	var raw map[string]any
	json.Unmarshal([]byte(r.body), &raw)
	for _, k := range []string{"id", "state", "leader", "term", "commit_index", "applied_index", "members", "pid", "log_file"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status has no %q", k)
		}
	}
	if raw["pid"] != float64(os.Getpid()) || raw["log_file"] != "/var/log/n1.log" {
		t.Errorf("status pid %v log_file %v, want %d and the configured file", raw["pid"], raw["log_file"], os.Getpid())
	}

	r = call(t, ts.URL, "GET", "/_cluster/digest", "")
	if r.status != 200 || r.body != `{"digest":"ab12","applied_index":7,"keys":2}`+"\n" {
		t.Fatalf("digest = %d %s", r.status, r.body)
	}

	expectOK200(t, call(t, ts.URL, "POST", "/_cluster/join", `{"id":"n/4","raft_addr":"127.0.0.1:9084","http_addr":"127.0.0.1:8084"}`))
	expectOK200(t, call(t, ts.URL, "DELETE", "/_cluster/members/n%2F4", ""))
	if len(node.joins) != 1 || node.joins[0].ID != "n/4" || len(node.removes) != 1 || node.removes[0] != "n/4" {
		t.Fatalf("joins %+v removes %+v", node.joins, node.removes)
	}
	// Removing an id that is not a member (any more) changes nothing: 404.
	for _, id := range []string{"n%2F4", "n9"} {
		p := expectProblem(t, call(t, ts.URL, "DELETE", "/_cluster/members/"+id, ""), http.StatusNotFound, "not-found")
		if !strings.Contains(p.Detail, "no member") {
			t.Errorf("remove %s: detail %q does not say there is no such member", id, p.Detail)
		}
	}
	if len(node.removes) != 1 {
		t.Fatalf("removes %+v after removing non-members", node.removes)
	}

	r = call(t, ts.URL, "POST", "/_test/partition", `{"blocked":["n2","n3"]}`)
	if r.status != 200 || r.body != `{"blocked":["n2","n3"]}`+"\n" {
		t.Fatalf("partition = %d %s", r.status, r.body)
	}
	r = call(t, ts.URL, "POST", "/_test/partition", `{"blocked":[]}`)
	if r.status != 200 {
		t.Fatalf("heal = %d %s", r.status, r.body)
	}
	if len(node.blocked) != 2 || len(node.blocked[0]) != 2 || len(node.blocked[1]) != 0 {
		t.Fatalf("SetBlocked calls = %v", node.blocked)
	}
	expectProblem(t, call(t, ts.URL, "POST", "/_test/partition", `{"blocked":"n2"}`), 400, "bad-request")

	node.mu.Lock()
	node.blockedErr = cluster.ErrFaultsDisabled
	node.mu.Unlock()
	expectProblem(t, call(t, ts.URL, "POST", "/_test/partition", `{"blocked":["n2"]}`), 400, "bad-request")
}

func TestCloseIsIdempotent(t *testing.T) {
	s := newFakeServer(Config{}, newFakeNode())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDigestBusy: a digest whose databases kept moving past its index is
// a 503 with Retry-After, not a digest, so a checker asks again.
func TestDigestBusy(t *testing.T) {
	node := newFakeNode()
	node.digestErr = fmt.Errorf("wrapped: %w", fsm.ErrDigestBusy)
	ts := serve(t, Config{NodeID: "n1"}, node)
	r := call(t, ts.URL, http.MethodGet, "/_cluster/digest", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "retry once they pause") {
		t.Fatalf("answer = %+v, want 503 with Retry-After", r)
	}
}

// TestDigestOutlastsTheWriteTimeout: a digest that takes longer than the
// server's write timeout (gigabytes of SQLite databases to hash) still
// gets its answer out, as a backup does.
func TestDigestOutlastsTheWriteTimeout(t *testing.T) {
	node := newFakeNode()
	node.slowDigest = 400 * time.Millisecond
	s := newFakeServer(Config{NodeID: "n1"}, node)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.WriteTimeout = 50 * time.Millisecond
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	res, err := http.Get(ts.URL + "/_cluster/digest")
	if err != nil {
		t.Fatalf("a digest slower than the write timeout: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 || string(body) != `{"digest":"ab12","applied_index":7,"keys":2}`+"\n" {
		t.Fatalf("digest = %d %s (%v)", res.StatusCode, body, err)
	}
}
