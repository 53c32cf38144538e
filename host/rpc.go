package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// RPC into objects (issue 20). On the leader an RPC takes onLeader as a
// fetch does: the read barrier, the object's gate, its writes as one
// command, the answer only once that command is applied. A follower
// sends it on its forwarding stream as a forwardedRPC frame: the
// forwardedCall's seven fields with an eighth, RPC, set; Method is the
// method's name and Body the arguments. The fetch frame keeps its seven
// fields (its golden bytes are unchanged); the leader tells the two
// apart by their length and reads both as a forwardedRPC (decodeCall).
// A leader built before RPC reads the first seven fields and refuses the
// class key (it holds a ':'), so nothing runs there. A leader that speaks
// only stream /1 has no scripts: RPC is not forwarded to it by POST.
//
// An RPC with an Idempotency-Key carries it in IdemKey, as a fetch
// does; a leader built before keyed RPCs reads the field and ignores it
// (the call runs unkeyed), so during a rolling upgrade a keyed RPC is
// only as safe as the leader's build.
//
// The answer is a forwardedCallResult as for a fetch: a result is Status
// 200 and its JSON as Body, undefined is 204; an exception thrown is
// callFailed with Msg the message and a header rpcErrorName holding the
// exception's name.

// A call to a script's object through an id made from a name carries
// the name, for the object's ctx.id.name: its frame is a namedCall, the
// forwardedRPC's eight fields with a ninth, IDName (a fetch's has RPC
// unset). A call without a name keeps its frame of seven or eight
// fields, byte for byte. The leader checks that the name derives the id
// before the object sees it (checkIDName). A leader built before names
// cannot read a frame of nine fields and answers not applied with
// badCallMsg before anything runs; the follower then sends the call
// again without the name (forwardNamed).

// fetchFrameFields and namedFrameFields are the numbers of fields of a
// fetch's frame (forwardedCall) and of a named call's (namedCall), by
// which the leader tells them from an RPC's.
const (
	fetchFrameFields = 7
	namedFrameFields = 9
)

// namedCall is a call frame with the name the object's id was made from.
type namedCall struct {
	Class   string       `msgpack:"c"`
	Name    string       `msgpack:"n"`
	Method  string       `msgpack:"m"`
	URL     string       `msgpack:"u"`
	Header  []wireHeader `msgpack:"h,omitempty"`
	Body    []byte       `msgpack:"b,omitempty"`
	IdemKey string       `msgpack:"i,omitempty"`
	RPC     bool         `msgpack:"r,omitempty"`
	IDName  string       `msgpack:"a,omitempty"`
}

// frame is the call's frame in its layout: a named call's when it
// carries a name, else a fetch's or an RPC's as before names.
func (c *namedCall) frame() ([]byte, error) {
	switch {
	case c.IDName != "":
		return encodeFrame(c)
	case c.RPC:
		return encodeFrame(&forwardedRPC{Class: c.Class, Name: c.Name, Method: c.Method, URL: c.URL, Header: c.Header,
			Body: c.Body, IdemKey: c.IdemKey, RPC: true})
	}
	return encodeFrame(c.fetch())
}

func (c *namedCall) fetch() *forwardedCall {
	return &forwardedCall{Class: c.Class, Name: c.Name, Method: c.Method, URL: c.URL, Header: c.Header,
		Body: c.Body, IdemKey: c.IdemKey}
}

// checkIDName checks that name derives the id of object id of class
// key (a script class's: a /_classes object's id is its name).
func checkIDName(key, id, name string) error {
	if name == "" {
		return nil
	}
	script, createdAs, ok := splitScriptClass(key)
	if !ok || objects.NewNamespace(script, createdAs).IDFromName(name).String() != id {
		return fmt.Errorf("%w: the name sent with the call does not derive the object's id", objects.ErrInvalid)
	}
	return nil
}

// forwardedRPC is a call frame with the RPC field: an RPC when set.
type forwardedRPC struct {
	Class   string       `msgpack:"c"`
	Name    string       `msgpack:"n"`
	Method  string       `msgpack:"m"`
	URL     string       `msgpack:"u"`
	Header  []wireHeader `msgpack:"h,omitempty"`
	Body    []byte       `msgpack:"b,omitempty"`
	IdemKey string       `msgpack:"i,omitempty"`
	RPC     bool         `msgpack:"r,omitempty"`
}

// rpcErrorName is the header of a failed RPC's answer that names the
// exception (TypeError, …).
const rpcErrorName = "Rpc-Error-Name"

// RPC runs method(args…) of object id of class (a class key:
// ScriptClass, or a /_classes class) on the leader and returns its
// result once the call's writes are applied; args is a JSON array of
// structured-clone values (classes.RPC). A follower forwards it. With
// idemKey set it is a keyed call as Call's: one command, not reentrant
// (classes.Engine.RPCOnce), that keeps its result (200 with the JSON,
// 204 for undefined) as the key's answer, which a retry with the key
// gets back without running; the key is tied to fsm.RPCRequestHash.
// Errors are Call's; a *CallError wraps the *classes.ScriptError of a
// throw (its Name and Message) when the code threw.
func (h *Host) RPC(ctx context.Context, class string, id classes.StubID, method string, args []byte, idemKey string) (*classes.RPCResult, error) {
	if h.node.IsLeader() {
		return h.rpc(ctx, class, id, method, args, idemKey)
	}
	leaderID, addr := h.node.LeaderPeer()
	if addr == "" {
		return nil, cluster.ErrNotLeader
	}
	res, err := h.forwardNamed(ctx, leaderID, addr, &namedCall{Class: class, Name: id.ID, Method: method, Body: args,
		IdemKey: idemKey, RPC: true, IDName: id.Name})
	if errors.Is(err, cluster.ErrStreamV1) {
		return nil, fmt.Errorf("%w: the leader's build has no RPC", cluster.ErrNotApplied)
	}
	if err != nil {
		return nil, err
	}
	return res.rpcOutcome()
}

// forwardNamed sends c to the leader on the forwarding stream and reads
// its answer; a named call that a leader built before names could not
// read (nothing ran) goes again without the name.
func (h *Host) forwardNamed(ctx context.Context, leaderID string, addr raft.ServerAddress, c *namedCall) (*forwardedCallResult, error) {
	for {
		frame, err := c.frame()
		if err != nil {
			return nil, fmt.Errorf("%w: encode forwarded call: %w", cluster.ErrNotApplied, err)
		}
		answer, err := h.node.StreamCall(ctx, leaderID, addr, frame)
		if err != nil {
			return nil, err
		}
		var res forwardedCallResult
		if err := msgpack.Unmarshal(answer, &res); err != nil {
			return nil, fmt.Errorf("%w: the leader's answer: %v", cluster.ErrOutcomeUnknown, err)
		}
		if c.IDName == "" || res.Code != codeNotApplied || !strings.Contains(res.Msg, badCallMsg) {
			return &res, nil
		}
		c.IDName = ""
	}
}

// rpc runs an RPC on the leader; a keyed one is rpcKeyed.
func (h *Host) rpc(ctx context.Context, class string, id classes.StubID, method string, args []byte, idemKey string) (*classes.RPCResult, error) {
	if idemKey != "" {
		return h.rpcKeyed(ctx, class, id, method, args, idemKey)
	}
	var out *classes.RPCResult
	_, err := h.onLeader(ctx, class, id.ID, runOpts{idName: id.Name}, func(r *run) error {
		var err error
		out, err = h.engine.RPC(r.ctx, r.ref, id.ID, method, args, r.state, r.commitEffects)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// rpcKeyed runs an RPC with an Idempotency-Key on the leader as call
// runs a keyed fetch: refused before it runs when Apply would refuse
// it, the first answer to a retry, else one commit with its result.
func (h *Host) rpcKeyed(ctx context.Context, class string, id classes.StubID, method string, args []byte, idemKey string) (*classes.RPCResult, error) {
	var out, replay *classes.RPCResult
	r, err := h.onLeader(ctx, class, id.ID, runOpts{idemKey: idemKey, idName: id.Name}, func(r *run) error {
		first, err := r.checkKey(fsm.RPCRequestHash(r.object, method, args))
		if err != nil {
			return err
		}
		if first != nil {
			replay = rpcResultOf(first.Response)
			return nil
		}
		out, err = h.engine.RPCOnce(r.ctx, r.ref, id.ID, method, args, r.state,
			func(eff classes.Effects, res *classes.RPCResult) error { return r.commit(eff, rpcResponse(res)) })
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case replay != nil:
		return replay, nil
	case r.applied.Replayed:
		// A retry with the same key ran concurrently and committed
		// first: its result is the answer, this run's writes dropped.
		return rpcResultOf(r.applied.Response), nil
	}
	return out, nil
}

// rpcResponse is an RPC's result as a keyed call keeps it: 200 with the
// result's JSON, 204 when it was undefined.
func rpcResponse(res *classes.RPCResult) *classes.Response {
	if res.Value == nil {
		return &classes.Response{Status: http.StatusNoContent}
	}
	return &classes.Response{Status: http.StatusOK, Body: res.Value}
}

// rpcResultOf is the RPC result a keyed call kept (rpcResponse).
func rpcResultOf(r *fsm.CallResponse) *classes.RPCResult {
	if r == nil || r.Status == http.StatusNoContent {
		return &classes.RPCResult{}
	}
	return &classes.RPCResult{Value: r.Body}
}

// runForwardedRPC runs an RPC a follower sent, on the leader.
func (h *Host) runForwardedRPC(ctx context.Context, fr *namedCall) forwardedCallResult {
	if !h.node.IsLeader() {
		return callResultOf(nil, cluster.ErrNotLeader)
	}
	if err := h.checkNames(fr.Class, fr.Name); err != nil {
		return callResultOf(nil, err)
	}
	res, err := h.rpc(context.WithoutCancel(ctx), fr.Class, classes.StubID{ID: fr.Name, Name: fr.IDName}, fr.Method, fr.Body, fr.IdemKey)
	var ce *CallError
	var se *classes.ScriptError
	switch {
	case err == nil && res.Value == nil:
		return forwardedCallResult{Code: objects.CodeOK, Status: 204}
	case err == nil:
		return forwardedCallResult{Code: objects.CodeOK, Status: 200, Body: res.Value}
	case errors.As(err, &ce) && errors.As(err, &se):
		return forwardedCallResult{Code: callFailed, Msg: ce.Message, Header: []wireHeader{{Name: rpcErrorName, Value: se.Name}}}
	}
	return callResultOf(nil, err)
}

// rpcOutcome is the RPC's outcome from the leader's answer.
func (r forwardedCallResult) rpcOutcome() (*classes.RPCResult, error) {
	switch {
	case r.Code == objects.CodeOK && r.Status == 204:
		return &classes.RPCResult{}, nil
	case r.Code == objects.CodeOK:
		return &classes.RPCResult{Value: r.Body}, nil
	case r.Code == callFailed:
		se := &classes.ScriptError{Message: r.Msg}
		for _, l := range r.Header {
			if l.Name == rpcErrorName {
				se.Name = l.Value
			}
		}
		return nil, &CallError{Message: r.Msg, Err: se}
	}
	_, err := r.outcome()
	return nil, err
}
