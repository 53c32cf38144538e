package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// Object classes (issue 14) on the node: class objects live on the leader
// only. A call runs there after the read barrier, its writes and alarm
// change are one command, and its response is released only once that
// command is applied (the engine's commit callback proposes it). A
// follower forwards calls to the leader (callforward.go); the leader fires
// due alarms (alarms.go).

// ClassConfig configures object classes.
type ClassConfig struct {
	// CPULimit bounds the JavaScript time of one call (default
	// classes.DefaultCPULimit).
	CPULimit time.Duration
	// Storage limits, the same as the built-in routes' (defaults
	// objects.DefaultMaxKeyBytes a key, DefaultMaxValueBytes a value);
	// MaxResponseBytes bounds a response body (default: the engine's).
	MaxKeyBytes, MaxValueBytes, MaxResponseBytes int
	// MaxInstances bounds the live object instances, the least recently
	// used idle one dropped first (0: the runtime's default).
	MaxInstances int
	// Runtimes bounds the JavaScript runtimes one class's instances share
	// (0: the runtime's default).
	Runtimes int
}

// engineConfig is c as the engine's Config, with the engine's defaults
// for what c leaves zero: the one place those defaults live.
func (c ClassConfig) engineConfig(log *slog.Logger) classes.Config {
	return classes.Config{
		Logger:           log,
		CPULimit:         c.CPULimit,
		MaxResponseBytes: c.MaxResponseBytes,
		MaxValueBytes:    c.MaxValueBytes,
		MaxKeyBytes:      c.MaxKeyBytes,
		MaxInstances:     c.MaxInstances,
		RuntimesPerClass: c.Runtimes,
	}.WithDefaults()
}

var (
	// ErrClassNotFound: no class of that name is registered.
	ErrClassNotFound = errors.New("class not found")
)

// CallError is a call that failed in the class's code (it threw, ran out
// of CPU time, answered too much); nothing was committed. Message is for
// the client.
type CallError struct {
	Message string
	Err     error
}

func (e *CallError) Error() string { return "call failed: " + e.Message }
func (e *CallError) Unwrap() error { return e.Err }

// CallResult is a call's answer.
type CallResult struct {
	Response *classes.Response
	// Index is the log index of the call's command (the first call's
	// for a replayed Idempotency-Key); for a call that wrote nothing and
	// had no key, the index its reads saw.
	Index    uint64
	Replayed bool
}

// classHost runs classes on this node.
type classHost struct {
	n      *Node
	cfg    ClassConfig
	engine *classes.Engine
	// peers forwards a follower's calls to a leader that speaks only
	// stream /1 (others take them on the stream), one request each; it
	// keeps as many connections alive as calls may be in flight, so
	// that a busy follower does not dial one a call.
	peers *peerClient

	// mu guards programs, the compiled version of each class this node
	// has run, and stopAlarms, which ends the alarm scheduler of the
	// current term.
	mu         sync.Mutex
	programs   map[string]classes.ClassRef
	stopAlarms context.CancelFunc

	// relays are the sockets this node relays to the leader
	// (websocket_relay.go).
	relays relaySet
}

func newClassHost(n *Node, cfg ClassConfig) *classHost {
	ecfg := cfg.engineConfig(n.log.With("component", "classes"))
	cfg.CPULimit, cfg.MaxResponseBytes = ecfg.CPULimit, ecfg.MaxResponseBytes
	cfg.MaxKeyBytes, cfg.MaxValueBytes = ecfg.MaxKeyBytes, ecfg.MaxValueBytes
	return &classHost{
		n:        n,
		cfg:      cfg,
		engine:   classes.NewEngine(ecfg),
		programs: map[string]classes.ClassRef{},
		peers:    newPeerClient(n.deps.Peers, 256),
	}
}

// close closes the sockets this node serves or relays (1012) and drops
// the idle connections to the leader.
func (h *classHost) close() {
	h.closeSockets()
	h.peers.close()
}

// classHost returns the node's class host, made on first use.
func (n *Node) classHost() *classHost {
	n.clsOnce.Do(func() { n.cls = newClassHost(n, n.cfg.Classes) })
	return n.cls
}

// ClassStats are this node's class engine counters (live instances, the
// runtimes they share, calls), for metrics.
func (n *Node) ClassStats() classes.Stats { return n.classHost().engine.Stats() }

// ref returns the class's program at the version the FSM holds now,
// compiling it on first use of that version. A new version makes the
// engine forget the old one's instances: calls that start after a
// redeploy is applied run the new code on instances rebuilt from storage.
func (h *classHost) ref(name string) (classes.ClassRef, error) {
	c, ok := h.n.fsm.Class(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	cached, had := h.programs[name]
	if !ok {
		if had {
			delete(h.programs, name)
			h.engine.Forget(name)
		}
		return classes.ClassRef{}, ErrClassNotFound
	}
	if had && cached.Version == c.Version {
		return cached, nil
	}
	prog, err := classes.Compile(name, c.Source, classes.Lang(c.Lang))
	if err != nil {
		// Compiled before it was committed: only a build whose compiler
		// differs gets here.
		return classes.ClassRef{}, &CallError{Message: fmt.Sprintf("class %s version %d does not compile: %v", name, c.Version, err), Err: err}
	}
	if had {
		h.engine.Forget(name)
	}
	ref := classes.ClassRef{Name: name, Version: c.Version, Program: prog}
	h.programs[name] = ref
	return ref, nil
}

// objectState is classes.State over the FSM: committed storage of one
// class object. The engine's input gate keeps other calls of the object
// from committing while one runs, so the reads of one call see one state
// plus the call's own writes (which the engine overlays).
type objectState struct {
	m      *fsm.Machine
	object string
}

var _ classes.State = objectState{}

func (s objectState) Get(key string) (v json.RawMessage, ok bool) {
	s.m.Read(func(st *objects.Store) { v, ok = st.Get(s.object, key) })
	return v, ok
}

func (s objectState) List(opts objects.ListOptions) (out []objects.Entry) {
	s.m.Read(func(st *objects.Store) { out, _, _ = st.List(s.object, opts) })
	return out
}

func (s objectState) Alarm() (int64, bool) { return s.m.AlarmOf(s.object) }

// DeployClass registers (or replaces) a class through Raft and returns its
// version, the entry's index. The source must have compiled (the api
// compiles it before, on the node that received it). A follower asks the
// leader's peer service, which compiles it again before proposing it;
// ErrNotLeader when no leader is known.
func (n *Node) DeployClass(ctx context.Context, name string, lang classes.Lang, source []byte) (uint64, error) {
	if n.raft.State() != raft.Leader {
		res, err := n.forwardClass(ctx, classRequest{Name: name, Lang: string(lang), Source: source})
		return res.Version, err
	}
	body, err := fsm.EncodeBody(&fsm.ClassPut{Name: name, Lang: string(lang), Source: source})
	if err != nil {
		return 0, err
	}
	resp, err := n.proposeClassCommand(ctx, &fsm.Command{Kind: fsm.KindClassPut, Body: body})
	if err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// DeleteClass removes a class; its objects' storage stays. found is false
// when it was not registered. A follower asks the leader's peer service;
// ErrNotLeader when no leader is known.
func (n *Node) DeleteClass(ctx context.Context, name string) (found bool, err error) {
	if n.raft.State() != raft.Leader {
		res, err := n.forwardClass(ctx, classRequest{Name: name, Delete: true})
		return res.Found, err
	}
	body, err := fsm.EncodeBody(&fsm.ClassDelete{Name: name})
	if err != nil {
		return false, err
	}
	resp, err := n.proposeClassCommand(ctx, &fsm.Command{Kind: fsm.KindClassDelete, Body: body})
	if err != nil {
		return false, err
	}
	return resp.Found, nil
}

func (n *Node) proposeClassCommand(ctx context.Context, cmd *fsm.Command) (*fsm.ClassResponse, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	resp, _, err := n.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resp.(*fsm.ClassResponse), nil
}

// Class is a registered class: name, language, source and version (the
// index of the entry that registered it).
type Class = fsm.Class

// ClassObject is the FSM object name holding the storage of object name
// of class: "_do/<Class>/<name>", out of the built-in routes' reach.
func ClassObject(class, name string) string { return fsm.ClassObject(class, name) }

// Class returns a registered class as this node's FSM holds it (the
// caller makes the read linearizable with Read first, if it must be).
func (n *Node) Class(name string) (Class, bool) { return n.fsm.Class(name) }

// Classes lists the registered classes (without sources) as this node's
// FSM holds them.
func (n *Node) Classes() []Class { return n.fsm.Classes() }

// Call runs fetch of object name of class with req on the leader, and
// returns its response once the call's writes are applied. A follower
// forwards the call to the leader. Errors: ErrClassNotFound; *CallError
// (the code failed, nothing committed); ErrNotLeader when no leader is
// known, ErrNotApplied, ErrOutcomeUnknown as for Write.
func (n *Node) Call(ctx context.Context, class, name string, req *classes.Request, idemKey string) (*CallResult, error) {
	if n.raft.State() == raft.Leader {
		return n.classHost().call(ctx, class, name, req, idemKey)
	}
	id, addr := n.leaderPeer()
	if addr == "" {
		return nil, ErrNotLeader
	}
	return n.classHost().forward(ctx, id, addr, forwardedCall{Class: class, Name: name, Method: req.Method, URL: req.URL,
		Header: wireHeaders(req.Header), Body: req.Body, IdemKey: idemKey})
}

// call is Call on the leader.
func (h *classHost) call(ctx context.Context, class, name string, req *classes.Request, idemKey string) (*CallResult, error) {
	n := h.n
	if err := n.readBarrier(ctx); err != nil {
		// Nothing of the call was proposed: the barrier's own no-op
		// failing is "not applied" for the call.
		return nil, readError(err)
	}
	ref, err := h.ref(class)
	if err != nil {
		return nil, err
	}
	object := fsm.ClassObject(class, name)
	var request []byte // the key's request, in the command (fsm.Call.Request)
	if idemKey != "" {
		request = fsm.CallRequestHash(object, req.Method, req.URL, req.Body)
		replay, err := n.fsm.CheckCall(object, idemKey, request, time.Now().UnixNano())
		if err != nil {
			return nil, err // refused before it runs, as Apply would
		}
		if replay != nil {
			return &CallResult{Response: callResponse(replay.Response), Index: replay.Index, Replayed: true}, nil
		}
	}
	var (
		applied   *fsm.CallResult
		commitErr error
	)
	commit := func(eff classes.Effects, resp *classes.Response) error {
		applied, commitErr = h.commit(ctx, object, eff, resp, idemKey, request, 0)
		return commitErr
	}
	resp, err := h.engine.Call(ctx, ref, name, req, objectState{m: n.fsm, object: object}, commit)
	if commitErr != nil {
		return nil, commitErr
	}
	if err != nil {
		return nil, h.callFailed(ctx, err)
	}
	if applied.Replayed {
		// A retry with the same key ran concurrently and committed first:
		// its response is the answer, this run's writes were dropped.
		resp = callResponse(applied.Response)
	}
	return &CallResult{Response: resp, Index: applied.Index, Replayed: applied.Replayed}, nil
}

// commit makes a call's effects durable: one command with the ops, the
// alarm change and (for an Idempotency-Key) the response. A call that
// wrote nothing and has no key proposes nothing; a heartbeat round
// started after its reads confirms that no other leader can have changed
// the object meanwhile, so its answer is linearizable all the same.
// request is the key's request (fsm.CallRequestHash); fired is the alarm
// time an alarm handler ran for (0 for calls).
func (h *classHost) commit(ctx context.Context, object string, eff classes.Effects, resp *classes.Response, idemKey string, request []byte, fired int64) (*fsm.CallResult, error) {
	n := h.n
	call := &fsm.Call{Ops: eff.Ops, Fired: fired}
	if a := eff.Alarm; a != nil {
		call.Alarm = &fsm.AlarmChange{Delete: a.Delete, At: a.At}
	}
	if len(call.Ops) == 0 && call.Alarm == nil && fired == 0 && idemKey == "" {
		index := n.fsm.LastApplied()
		if _, err := n.verifier.join(ctx); err != nil {
			return nil, readError(err)
		}
		return &fsm.CallResult{Index: index}, nil
	}
	if idemKey != "" && resp != nil {
		call.Response = &fsm.CallResponse{Status: resp.Status, Header: fsm.HeaderFields(resp.Header), Body: resp.Body}
		call.Request = request
	}
	body, err := fsm.EncodeBody(call)
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	now := time.Now().UnixNano()
	cmd := &fsm.Command{Kind: fsm.KindCall, Object: object, Body: body, IdemKey: idemKey,
		Time: now, IdemExpires: now + int64(n.cfg.IdempotencyWindow)}
	if n.cfg.bug(BugAckBeforeCommit) {
		// The known bug: the call is answered as if committed, whether
		// or not the entry ever commits.
		if data, err := fsm.Encode(cmd); err == nil {
			n.raft.Apply(data, time.Second)
		}
		return &fsm.CallResult{Index: n.fsm.LastApplied()}, nil
	}
	r, _, err := n.propose(ctx, cmd)
	if err != nil {
		if errors.Is(err, ErrNotLeader) {
			// Lost leadership between the check and the proposal:
			// never appended.
			return nil, fmt.Errorf("%w: %v", ErrNotApplied, err)
		}
		return nil, err
	}
	res := r.(*fsm.CallResult)
	if errors.Is(res.Err, fsm.ErrIdempotencyMismatch) || errors.Is(res.Err, fsm.ErrIdempotencyFull) {
		return nil, res.Err
	}
	if res.Err != nil {
		return nil, &CallError{Message: fmt.Sprintf("storage refused the call's writes: %v", res.Err), Err: res.Err}
	}
	return res, nil
}

// callFailed sorts an engine error when nothing was committed: the
// class's own failure, or the call stopped before it got to commit.
func (h *classHost) callFailed(ctx context.Context, err error) error {
	var se *classes.ScriptError
	switch {
	case errors.As(err, &se):
		return &CallError{Message: se.Message, Err: err}
	case ctx.Err() != nil:
		return fmt.Errorf("%w: the call was stopped before it committed: %v", ErrNotApplied, ctx.Err())
	default:
		return &CallError{Message: err.Error(), Err: err}
	}
}

func callResponse(r *fsm.CallResponse) *classes.Response {
	if r == nil {
		return &classes.Response{Status: 200}
	}
	return &classes.Response{Status: r.Status, Header: fsm.HTTPHeader(r.Header), Body: r.Body}
}
