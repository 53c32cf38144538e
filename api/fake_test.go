package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/objects"
)

var (
	_ Node = (*fakeNode)(nil)
	_ Host = (*fakeNode)(nil)
)

// writeCall is one Write the fake received.
type writeCall struct {
	Object  string
	Txn     objects.Txn
	IdemKey string
}

// fakeNode is an in-memory Node: a real objects.Store, a counter for the
// index, and switches for leadership and failures.
type fakeNode struct {
	mu         sync.Mutex
	store      *objects.Store
	index      uint64
	follower   bool   // knows no leader: linearizable reads and writes get ErrNotLeader
	leaderID   string // the leader Status names
	writeErr   error  // returned by Write instead of applying
	readErr    error  // returned by Read instead of reading
	blockWrite bool   // Write waits for its context to end
	panicWrite bool
	notReady   bool
	blockedErr error
	// lag, when set, is how far Status reports the applied index behind
	// the commit index.
	lag uint64
	// slowDigest is how long Digest works (hashing gigabytes, at scale).
	slowDigest time.Duration
	// digestErr is what Digest fails with, if set.
	digestErr error

	members map[string]bool // Remove refuses other ids; Join adds
	writes  []writeCall
	reads   int
	joins   []joinRequest
	removes []string
	blocked [][]string
}

func newFakeNode() *fakeNode {
	return &fakeNode{store: objects.NewStore(), leaderID: "n1", members: map[string]bool{"n1": true, "n2": true, "n3": true}}
}

func (f *fakeNode) Write(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error) {
	f.mu.Lock()
	f.writes = append(f.writes, writeCall{object, txn, idemKey})
	follower, werr, block, panics := f.follower, f.writeErr, f.blockWrite, f.panicWrite
	f.mu.Unlock()
	switch {
	case panics:
		panic("fake write panics")
	case follower:
		return objects.TxnResult{}, 0, cluster.ErrNotLeader
	case werr != nil:
		return objects.TxnResult{}, 0, werr
	case block:
		<-ctx.Done()
		return objects.TxnResult{}, 0, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	res, err := f.store.Apply(object, txn)
	return res, f.index, err
}

func (f *fakeNode) Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if linearizable && f.follower {
		return 0, cluster.ErrNotLeader
	}
	if f.readErr != nil {
		return 0, f.readErr
	}
	f.reads++
	fn(f.store)
	return f.index, nil
}

func (f *fakeNode) Status() apitypes.Status {
	f.mu.Lock()
	leader, lag := f.leaderID, f.lag
	f.mu.Unlock()
	addr := "127.0.0.1:8081"
	if leader == "" {
		addr = ""
	}
	return apitypes.Status{ID: "n1", State: "leader", Leader: apitypes.LeaderInfo{ID: leader, HTTPAddr: addr},
		Term: 3, CommitIndex: 7 + lag, AppliedIndex: 7,
		Members: []apitypes.Member{{ID: "n1", RaftAddr: "127.0.0.1:9081", HTTPAddr: "127.0.0.1:8081", Suffrage: "voter"}}}
}

func (f *fakeNode) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.notReady
}

func (f *fakeNode) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.follower {
		return cluster.ErrNotLeader
	}
	f.joins = append(f.joins, joinRequest{id, raftAddr, httpAddr})
	f.members[id] = true
	return nil
}

func (f *fakeNode) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.follower {
		return cluster.ErrNotLeader
	}
	if !f.members[id] {
		return fmt.Errorf("remove %q: %w", id, cluster.ErrUnknownMember)
	}
	delete(f.members, id)
	f.removes = append(f.removes, id)
	return nil
}

func (f *fakeNode) Digest() (apitypes.Digest, error) {
	f.mu.Lock()
	slow, err := f.slowDigest, f.digestErr
	f.mu.Unlock()
	time.Sleep(slow)
	if err != nil {
		return apitypes.Digest{}, err
	}
	return apitypes.Digest{Digest: "ab12", AppliedIndex: 7, Keys: 2}, nil
}

func (f *fakeNode) SetBlocked(ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blockedErr != nil {
		return f.blockedErr
	}
	f.blocked = append(f.blocked, ids)
	return nil
}

func (f *fakeNode) writeCalls() []writeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]writeCall(nil), f.writes...)
}

func (f *fakeNode) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// fakeServer is a fake node that is its own object host too.
type fakeServer interface {
	Node
	Host
}

// newFakeServer is New(cfg, node, node).
func newFakeServer(cfg Config, node fakeServer) *Server { return New(cfg, node, node) }

// serve starts an httptest server of New(cfg, node, node).
func serve(t *testing.T, cfg Config, node fakeServer) *httptest.Server {
	t.Helper()
	s := newFakeServer(cfg, node)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return ts
}

type response struct {
	status int
	header http.Header
	body   string
}

// call sends one request; path is sent as written (escapes kept), a
// body as JSON unless header names another Content-Type.
func call(t *testing.T, base, method, path, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != "" {
		// As the client sends it; a test of another type says so.
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1] // Go sends req.Host, not a Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// errNoBackup is the fake's answer to Backup.
var errNoBackup = errors.New("the fake node takes no backups")

func (f *fakeNode) Backup(context.Context) (*fsm.Capture, error) { return nil, errNoBackup }

// The fake node hosts no classes (fakeClassNode does).

func (f *fakeNode) DeployClass(context.Context, string, classes.Lang, []byte) (uint64, error) {
	return 0, cluster.ErrNotApplied
}

func (f *fakeNode) DeleteClass(context.Context, string) (bool, error) { return false, nil }

func (f *fakeNode) Class(string) (cluster.Class, bool) { return cluster.Class{}, false }

func (f *fakeNode) Classes() []cluster.Class { return nil }

func (f *fakeNode) CallStub(context.Context, string, classes.StubID, *classes.Request, string) (*host.CallResult, error) {
	return nil, host.ErrClassNotFound
}

func (f *fakeNode) ServeWebSocket(http.ResponseWriter, *http.Request, string, classes.StubID, *classes.Request) (*host.CallResult, error) {
	return nil, host.ErrClassNotFound
}

// The fake node keeps no scripts (fakeScriptNode does).

func (f *fakeNode) DeployScript(context.Context, *fsm.ScriptPut) (cluster.ScriptDeploy, error) {
	return cluster.ScriptDeploy{}, cluster.ErrNotApplied
}

func (f *fakeNode) DeleteScript(context.Context, string) (bool, error) { return false, nil }

func (f *fakeNode) PutSecret(context.Context, string, string, string) (bool, error) {
	return false, cluster.ErrNotApplied
}

func (f *fakeNode) Script(string) (cluster.Script, bool) { return cluster.Script{}, false }

func (f *fakeNode) Scripts() []cluster.Script { return nil }
