package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
)

// Object classes on the leader: class objects live on the leader only.
// Every run of an object's code — a call, a socket's connect, message or
// close, an alarm — takes onLeader: it runs after the read barrier, its
// writes and alarm change are one command, and its answer is released
// only once that command is applied (the engine's commit callback
// proposes it). A follower forwards calls to the leader (forward.go); the
// leader fires due alarms (alarms.go).

// run is one run of an object's code on the leader, as onLeader gives it
// to the code: the class's program, the object's state and the commit of
// its effects.
type run struct {
	h      *Host
	ctx    context.Context
	ref    classes.ClassRef
	object string
	// state is an objectState, or a *sqlState for an SQLite-backed
	// object (sql.go).
	state classes.State
	// term is the term of the barrier the run took; its commit is
	// refused in any other.
	term    uint64
	idemKey string
	// request is the keyed call's request (fsm.CallRequestHash, or
	// fsm.RPCRequestHash for an RPC), kept with its key.
	request []byte
	fired   int64 // the alarm time an alarm handler runs for; 0 otherwise

	// applied and commitErr are commit's outcome.
	applied   *fsm.CallResult
	commitErr error
}

// commit is the engine's commit callback: the run's effects as one
// command; resp is kept with an Idempotency-Key.
func (r *run) commit(eff classes.Effects, resp *classes.Response) error {
	r.applied, r.commitErr = r.h.commit(r, eff, resp)
	return r.commitErr
}

// commitEffects is commit for the handlers that answer nothing.
func (r *run) commitEffects(eff classes.Effects) error { return r.commit(eff, nil) }

// runOpts are what a run needs beside its object.
type runOpts struct {
	idemKey string
	fired   int64
	// term, when set, is the only term the run may take: a socket's
	// handlers run in the term its connect did.
	term uint64
	// idName is the name the call's stub made the object's id from
	// (classes.ClassRef.IDName), checked before anything runs.
	idName string
}

// onLeader is the one leader-side path of every run of an object's code:
// it checks leadership, takes the read barrier, gets the class's program
// for this term, builds the object's state, runs fn, and sorts the
// outcome — commit's error first (the engine returns it as is), then the
// code's own failure. The run is bounded by callTimeout from parent.
func (h *Host) onLeader(parent context.Context, class, name string, o runOpts, fn func(*run) error) (*run, error) {
	if !h.node.IsLeader() {
		return nil, cluster.ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(parent, h.callTimeout())
	defer cancel()
	term, err := h.node.Barrier(ctx)
	if err != nil {
		// Nothing of the run was proposed: the barrier's own no-op
		// failing is "not applied" for it.
		return nil, err
	}
	if o.term != 0 && term != o.term {
		return nil, errStaleTerm
	}
	ref, err := h.ref(class, term)
	if err != nil {
		return nil, err
	}
	if err := checkIDName(class, name, o.idName); err != nil {
		return nil, err
	}
	ref.IDName = o.idName
	object := fsm.ClassObject(class, name)
	r := &run{h: h, ctx: ctx, ref: ref, object: object, state: h.newState(ctx, class, object, term),
		term: term, idemKey: o.idemKey, fired: o.fired}
	err = fn(r)
	notApplied := false
	if s, ok := r.state.(*sqlState); ok {
		// Code that throws because its session ended with this node's
		// leadership, having committed nothing, was not applied: the
		// client may send it again, whatever the script made of it.
		notApplied = err != nil && r.applied == nil && s.lostLeadership()
		s.end(nil) // what was not committed is dropped
	}
	switch {
	case r.commitErr != nil:
		return r, r.commitErr
	case notApplied:
		return r, fmt.Errorf("%w (the code threw: %v)", errSessionEnded, err)
	case err != nil:
		return r, h.callFailed(ctx, err)
	}
	return r, nil
}

// call runs fetch of object id of class on the leader.
func (h *Host) call(ctx context.Context, class string, id classes.StubID, req *classes.Request, idemKey string) (*CallResult, error) {
	var resp *classes.Response
	var replay *CallResult
	name := id.ID
	r, err := h.onLeader(ctx, class, name, runOpts{idemKey: idemKey, idName: id.Name}, func(r *run) error {
		if idemKey != "" {
			first, err := r.checkKey(fsm.CallRequestHash(r.object, req.Method, req.URL, req.Body))
			if err != nil {
				return err
			}
			if first != nil {
				replay = &CallResult{Response: callResponse(first.Response), Index: first.Index, Replayed: true}
				return nil
			}
		}
		var err error
		resp, err = h.engine.Call(r.ctx, r.ref, name, req, r.state, r.commit)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case replay != nil:
		return replay, nil
	case r.applied.Replayed:
		// A retry with the same key ran concurrently and committed first:
		// its response is the answer, this run's writes were dropped.
		resp = callResponse(r.applied.Response)
	}
	return &CallResult{Response: resp, Index: r.applied.Index, Replayed: r.applied.Replayed}, nil
}

// checkKey ties a keyed run to request, its call's fingerprint
// (fsm.CallRequestHash or fsm.RPCRequestHash), and returns the first
// answer kept for its key, if any. A call is refused before it runs, as
// Apply would refuse it: a key tied to another request, or a full table.
func (r *run) checkKey(request []byte) (*fsm.CallResult, error) {
	r.request = request
	return r.h.node.FSM().CheckCall(r.object, r.idemKey, request, time.Now().UnixNano())
}

// commit makes a run's effects durable: one command with the ops, the
// alarm change and (for an Idempotency-Key) the response. A run that
// wrote nothing and has no key proposes nothing; a heartbeat round
// started after its reads confirms that no other leader can have changed
// the object meanwhile, so its answer is linearizable all the same. A run
// commits only in the term it began in: a leader that lost leadership
// and won it again since may have missed another leader's writes.
func (h *Host) commit(r *run, eff classes.Effects, resp *classes.Response) (*fsm.CallResult, error) {
	call := &fsm.Call{Ops: eff.Ops, Fired: r.fired}
	if a := eff.Alarm; a != nil {
		call.Alarm = &fsm.AlarmChange{Delete: a.Delete, At: a.At}
	}
	if s, ok := r.state.(*sqlState); ok {
		w, err := s.take() // the session's writes; it is rolled back
		if err != nil {
			return nil, err
		}
		call.SQL = w
	}
	if len(call.Ops) == 0 && call.Alarm == nil && r.fired == 0 && r.idemKey == "" && call.SQL == nil {
		index := h.node.FSM().LastApplied()
		if err := h.node.VerifyLeader(r.ctx); err != nil {
			return nil, err
		}
		if h.node.Term() != r.term {
			return nil, errStaleTerm
		}
		return &fsm.CallResult{Index: index}, nil
	}
	if r.idemKey != "" && resp != nil {
		call.Response = &fsm.CallResponse{Status: resp.Status, Header: fsm.HeaderFields(resp.Header), Body: resp.Body}
		call.Request = r.request
	}
	body, err := fsm.EncodeBody(call)
	if err != nil {
		return nil, err
	}
	if !h.node.IsLeader() || h.node.Term() != r.term {
		return nil, errStaleTerm
	}
	now := time.Now().UnixNano()
	if call.SQL != nil {
		now = call.SQL.Env.Now.UnixNano() // the time its statements saw
	}
	cmd := &fsm.Command{Kind: fsm.KindCall, Object: r.object, Body: body, IdemKey: r.idemKey,
		Time: now, IdemExpires: now + int64(h.cfg.IdempotencyWindow)}
	if h.cfg.AckBeforeCommit {
		// The known bug: the call is answered as if committed, whether
		// or not the entry ever commits.
		if call.SQL != nil {
			h.sql.doubt(r.object)
		}
		go h.node.Propose(context.WithoutCancel(r.ctx), cmd)
		return &fsm.CallResult{Index: h.node.FSM().LastApplied()}, nil
	}
	out, _, err := h.node.Propose(r.ctx, cmd)
	if err != nil {
		if call.SQL != nil && errors.Is(err, cluster.ErrOutcomeUnknown) {
			h.sql.doubt(r.object) // its next session waits for it
		}
		if errors.Is(err, cluster.ErrNotLeader) {
			// Lost leadership between the check and the proposal:
			// never appended.
			return nil, fmt.Errorf("%w: %v", cluster.ErrNotApplied, err)
		}
		return nil, err
	}
	res := out.(*fsm.CallResult)
	if errors.Is(res.Err, fsm.ErrIdempotencyMismatch) || errors.Is(res.Err, fsm.ErrIdempotencyFull) {
		return nil, res.Err
	}
	if res.Err != nil {
		return nil, &CallError{Message: fmt.Sprintf("storage refused the call's writes: %v", res.Err), Err: res.Err}
	}
	return res, nil
}

// callFailed sorts an engine error when nothing was committed: the
// class's own failure, or the run stopped before it got to commit.
func (h *Host) callFailed(ctx context.Context, err error) error {
	var se *classes.ScriptError
	switch {
	case errors.Is(err, errStaleTerm), errors.Is(err, ErrClassNotFound),
		errors.Is(err, fsm.ErrIdempotencyMismatch), errors.Is(err, fsm.ErrIdempotencyFull):
		return err
	case errors.As(err, &se):
		return &CallError{Message: se.Message, Err: err}
	case ctx.Err() != nil:
		return fmt.Errorf("%w: the call was stopped before it committed: %v", cluster.ErrNotApplied, ctx.Err())
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

// Call runs fetch of object name of class with req on the leader, and
// returns its response once the call's writes are applied. A follower
// forwards the call to the leader. Errors: ErrClassNotFound; *CallError
// (the code failed, nothing committed); cluster.ErrNotLeader when no
// leader is known, cluster.ErrNotApplied, cluster.ErrOutcomeUnknown as
// for a write.
func (h *Host) Call(ctx context.Context, class, name string, req *classes.Request, idemKey string) (*CallResult, error) {
	return h.CallStub(ctx, class, classes.StubID{ID: name}, req, idemKey)
}

// CallStub is Call of a script's object through a stub's id: with
// id.Name set, the object's ctx.id.name, once the leader has checked
// that the name derives id.ID (objects.ErrInvalid otherwise).
func (h *Host) CallStub(ctx context.Context, class string, id classes.StubID, req *classes.Request, idemKey string) (*CallResult, error) {
	if h.node.IsLeader() {
		return h.call(ctx, class, id, req, idemKey)
	}
	leaderID, addr := h.node.LeaderPeer()
	if addr == "" {
		return nil, cluster.ErrNotLeader
	}
	return h.forward(ctx, leaderID, addr, &namedCall{Class: class, Name: id.ID, Method: req.Method, URL: req.URL,
		Header: wireHeaders(req.Header), Body: req.Body, IdemKey: idemKey, IDName: id.Name})
}
