package host

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

var _ Raft = (*fakeRaft)(nil)

// fakeRaft is a leader without Raft: it applies each proposal to its FSM
// at once, in the term the test sets, and never tells its subscribers of
// a leadership change, so that a test shows what the host does before it
// hears of one.
type fakeRaft struct {
	m *fsm.Machine

	mu    sync.Mutex
	term  uint64
	index uint64
	// bumpAfterBarrier moves to the next term right after a barrier,
	// as a leader that lost and won leadership during a run.
	bumpAfterBarrier bool
	// catchUp, when set, runs at the next Read.
	catchUp func()
}

func newFakeRaft(term uint64) *fakeRaft { return &fakeRaft{m: fsm.New(fsm.Options{}), term: term} }

func (f *fakeRaft) setTerm(term uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.term = term
}

func (f *fakeRaft) IsLeader() bool { return true }

func (f *fakeRaft) Term() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.term
}

func (f *fakeRaft) Barrier(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	term := f.term
	if f.bumpAfterBarrier {
		f.term++
	}
	return term, nil
}

func (f *fakeRaft) VerifyLeader(context.Context) error { return nil }
func (f *fakeRaft) OnLeadership(func(bool))            {}

func (f *fakeRaft) Propose(_ context.Context, cmd *fsm.Command) (any, uint64, error) {
	if cmd.Time == 0 {
		cmd.Time = time.Now().UnixNano()
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	return f.m.Apply(&raft.Log{Index: f.index, Term: f.term, Type: raft.LogCommand, Data: data}), f.index, nil
}

func (f *fakeRaft) FSM() *fsm.Machine { return f.m }

// Read runs the test's catchUp first (the writes a follower applies when
// it catches up with the leader), then fn on no store: the host reads
// its state from the FSM.
func (f *fakeRaft) Read(_ context.Context, _ bool, fn func(*objects.Store)) (uint64, error) {
	if f.catchUp != nil {
		f.catchUp()
		f.catchUp = nil
	}
	fn(nil)
	return f.index, nil
}

func (f *fakeRaft) HandlePeer(string, http.Handler)                            {}
func (f *fakeRaft) HandleStreamCalls(cluster.StreamCallHandler, time.Duration) {}
func (f *fakeRaft) LeaderPeer() (string, raft.ServerAddress)                   { return "", "" }
func (f *fakeRaft) CheckClasses(cluster.ClassCheck)                            {}
func (f *fakeRaft) DeleteClass(context.Context, string) (bool, error)          { return false, nil }
func (f *fakeRaft) DialPeer(context.Context, raft.ServerAddress) (net.Conn, error) {
	return nil, errNoPeers
}

func (f *fakeRaft) StreamCall(context.Context, string, raft.ServerAddress, []byte) ([]byte, error) {
	return nil, errNoPeers
}

func (f *fakeRaft) DeployClass(ctx context.Context, name, lang string, source []byte) (uint64, error) {
	body, err := fsm.EncodeBody(&fsm.ClassPut{Name: name, Lang: lang, Source: source})
	if err != nil {
		return 0, err
	}
	resp, _, err := f.Propose(ctx, &fsm.Command{Kind: fsm.KindClassPut, Body: body})
	if err != nil {
		return 0, err
	}
	return resp.(*fsm.ClassResponse).Version, nil
}

var errNoPeers = errors.New("the fake has no peers")
