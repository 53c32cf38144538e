package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// A follower sends a class call to the leader on the forwarding stream
// when the leader speaks /2 (stream_calls.go); to a leader that speaks
// only /1 (a build before it, during a rolling upgrade), as POST pathCall
// with an msgpack forwardedCall, answered with an msgpack
// forwardedCallResult. Every leader keeps serving pathCall.

// maxForwardedCallBytes bounds a forwarded call's body: the api's own
// limit on a request body (1 MiB by default) plus headers.
const maxForwardedCallBytes = 4 << 20

// forwardedCall is one call a follower sends the leader.
type forwardedCall struct {
	Class   string       `msgpack:"c"`
	Name    string       `msgpack:"n"`
	Method  string       `msgpack:"m"`
	URL     string       `msgpack:"u"`
	Header  []wireHeader `msgpack:"h,omitempty"`
	Body    []byte       `msgpack:"b,omitempty"`
	IdemKey string       `msgpack:"i,omitempty"`
}

// Outcome codes of a forwarded call, beside objects.CodeOK and the
// codeNotApplied, codeUnknown, codeIdemMismatch and codeIdemFull of
// forwarded writes (a follower built before the last two reads them as
// unknown).
const (
	callNotFound uint8 = 100 + iota
	callFailed
)

// forwardedCallResult is the leader's answer to a forwardedCall.
type forwardedCallResult struct {
	Code     uint8        `msgpack:"c"`
	Msg      string       `msgpack:"m,omitempty"`
	Status   int          `msgpack:"s,omitempty"`
	Header   []wireHeader `msgpack:"h,omitempty"`
	Body     []byte       `msgpack:"b,omitempty"`
	Index    uint64       `msgpack:"x,omitempty"`
	Replayed bool         `msgpack:"r,omitempty"`
}

func callResultOf(res *CallResult, err error) forwardedCallResult {
	var ce *CallError
	switch {
	case err == nil:
		return forwardedCallResult{Code: objects.CodeOK, Status: res.Response.Status, Header: wireHeaders(res.Response.Header),
			Body: res.Response.Body, Index: res.Index, Replayed: res.Replayed}
	case errors.Is(err, ErrClassNotFound):
		return forwardedCallResult{Code: callNotFound}
	case errors.As(err, &ce):
		return forwardedCallResult{Code: callFailed, Msg: ce.Message}
	case errors.Is(err, fsm.ErrIdempotencyMismatch):
		return forwardedCallResult{Code: codeIdemMismatch}
	case errors.Is(err, fsm.ErrIdempotencyFull):
		return forwardedCallResult{Code: codeIdemFull}
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNotApplied):
		return forwardedCallResult{Code: codeNotApplied, Msg: err.Error()}
	default:
		return forwardedCallResult{Code: codeUnknown, Msg: err.Error()}
	}
}

func (r forwardedCallResult) outcome() (*CallResult, error) {
	switch r.Code {
	case objects.CodeOK:
		return &CallResult{Response: &classes.Response{Status: r.Status, Header: httpHeader(r.Header), Body: r.Body},
			Index: r.Index, Replayed: r.Replayed}, nil
	case callNotFound:
		return nil, ErrClassNotFound
	case callFailed:
		return nil, &CallError{Message: r.Msg}
	case codeIdemMismatch:
		return nil, fsm.ErrIdempotencyMismatch
	case codeIdemFull:
		return nil, fsm.ErrIdempotencyFull
	case codeNotApplied:
		return nil, fmt.Errorf("%w: at the leader: %s", ErrNotApplied, r.Msg)
	default:
		return nil, fmt.Errorf("%w: at the leader: %s", ErrOutcomeUnknown, r.Msg)
	}
}

// serveCall runs a forwarded call on the leader. A node that is not the
// leader runs nothing and says so (not applied).
func (n *Node) serveCall(w http.ResponseWriter, r *http.Request) {
	var fc forwardedCall
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForwardedCallBytes))
	if err == nil {
		if err = fsm.WellFormed(b); err == nil {
			err = msgpack.Unmarshal(b, &fc)
		}
	}
	if err != nil {
		http.Error(w, "bad forwarded call: "+err.Error(), http.StatusBadRequest)
		return
	}
	n.peer.callsOnPost.Add(1)
	body, encErr := msgpack.Marshal(n.runForwardedCall(r.Context(), &fc))
	if encErr != nil {
		http.Error(w, encErr.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(body)
}

// runForwardedCall runs a call a follower forwarded, on the leader, by
// either way it came. A node that is not the leader runs nothing and says
// so (not applied).
func (n *Node) runForwardedCall(ctx context.Context, fc *forwardedCall) forwardedCallResult {
	if n.raft.State() != raft.Leader {
		return callResultOf(nil, ErrNotLeader)
	}
	req := &classes.Request{Method: fc.Method, URL: fc.URL, Header: httpHeader(fc.Header), Body: fc.Body}
	// The call may run up to the CPU limit, longer than the API's
	// request deadline that this route shares; and, like a write,
	// it goes on if the follower stops waiting (which then reports
	// an unknown outcome).
	h := n.classHost()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.callTimeout())
	defer cancel()
	return callResultOf(h.call(ctx, fc.Class, fc.Name, req, fc.IdemKey))
}

// forward sends a call to the leader and waits for its outcome: on the
// forwarding stream, or as a POST to a leader that speaks only /1. A
// failure before the call was sent is not applied; after, the call may
// have run and committed (outcome unknown).
func (h *classHost) forward(ctx context.Context, leaderID string, leader raft.ServerAddress, fc forwardedCall) (*CallResult, error) {
	if h.n.Blocked(leaderID) {
		return nil, fmt.Errorf("%w: the leader is cut off", ErrNotApplied)
	}
	if res, ok := h.n.fwd.streams.call(ctx, leaderID, leader, &fc); ok {
		return res.outcome()
	}
	return h.post(ctx, leader, fc)
}

// post sends a call to a leader that speaks only /1 as one request. A
// failure before a connection to the leader existed sent nothing (not
// applied); after, the call may have run and committed (outcome unknown).
func (h *classHost) post(ctx context.Context, leader raft.ServerAddress, fc forwardedCall) (*CallResult, error) {
	data, err := msgpack.Marshal(&fc)
	if err != nil {
		return nil, fmt.Errorf("encode forwarded call: %w", err)
	}
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+string(leader)+pathCall, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotApplied, err)
	}
	req.Header.Set("Content-Type", "application/msgpack")
	req.Header.Set(headerFrom, h.n.cfg.ID)
	failed := func(cause error) error {
		if connected.Load() {
			return fmt.Errorf("%w: call forwarded to the leader: %v", ErrOutcomeUnknown, cause)
		}
		return fmt.Errorf("%w: call to the leader: %v", ErrNotApplied, cause)
	}
	resp, err := h.peers.hc.Do(req)
	if err != nil {
		return nil, failed(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound {
			// Refused before anything ran (an older leader without
			// the route answers 404).
			return nil, fmt.Errorf("%w: leader answered %d to a forwarded call", ErrNotApplied, resp.StatusCode)
		}
		return nil, failed(fmt.Errorf("leader answered %d", resp.StatusCode))
	}
	var r forwardedCallResult
	if err := msgpack.NewDecoder(io.LimitReader(resp.Body, maxForwardedCallBytes)).Decode(&r); err != nil {
		return nil, failed(err)
	}
	return r.outcome()
}

// classRequest asks the leader to deploy or delete a class: deploy and
// delete reach the leader as one request each, like joins. The answer is
// a classReply.
type classRequest struct {
	Name   string `msgpack:"n"`
	Lang   string `msgpack:"l,omitempty"`
	Source []byte `msgpack:"s,omitempty"`
	Delete bool   `msgpack:"d,omitempty"`
}

// classReply is the leader's answer to a classRequest: a deployed class's
// version, or whether a deleted class was there, or why neither.
type classReply struct {
	Version uint64
	Found   bool
	// Code, Key and Msg are the outcome, as in a forwardedResult.
	Code     uint8
	Key, Msg string
}

// classReplyLayout is classReply on the wire: the layout of the other
// one-shot routes' forwardedResult, which builds before classReply
// wrote and read, Found in its result's "succeeded", Version in "x".
type classReplyLayout struct {
	Result struct {
		Found   bool         `msgpack:"succeeded"`
		Results []wireResult `msgpack:"results"` // always empty
	} `msgpack:"r"`
	Version uint64 `msgpack:"x"`
	Code    uint8  `msgpack:"c"`
	Key     string `msgpack:"k,omitempty"`
	Msg     string `msgpack:"m,omitempty"`
}

func classReplyOf(version uint64, found bool, err error) classReply {
	r := resultOf(objects.TxnResult{}, 0, err)
	return classReply{Version: version, Found: found, Code: r.Code, Key: r.Key, Msg: r.Msg}
}

// err is what the leader's answer means for the caller (nil: done).
func (r classReply) err() error {
	return forwardedResult{Code: r.Code, Key: r.Key, Msg: r.Msg}.err()
}

var (
	_ msgpack.CustomEncoder = classReply{}
	_ msgpack.CustomDecoder = (*classReply)(nil)
)

// EncodeMsgpack writes r as its classReplyLayout.
func (r classReply) EncodeMsgpack(enc *msgpack.Encoder) error {
	var l classReplyLayout
	l.Result.Found, l.Version, l.Code, l.Key, l.Msg = r.Found, r.Version, r.Code, r.Key, r.Msg
	return enc.Encode(&l)
}

// DecodeMsgpack reads a classReplyLayout into r.
func (r *classReply) DecodeMsgpack(dec *msgpack.Decoder) error {
	var l classReplyLayout
	if err := dec.Decode(&l); err != nil {
		return err
	}
	*r = classReply{Version: l.Version, Found: l.Result.Found, Code: l.Code, Key: l.Key, Msg: l.Msg}
	return nil
}

// forwardClass sends req to the leader. As for a join, a request that
// fails on the way is reported not applied: deploying or deleting a class
// again is safe.
func (n *Node) forwardClass(ctx context.Context, req classRequest) (classReply, error) {
	_, leader := n.leaderPeer()
	if leader == "" {
		return classReply{}, ErrNotLeader
	}
	var res classReply
	if err := n.fwd.client.post(ctx, leader, pathClass, &req, &res); err != nil {
		return classReply{}, fmt.Errorf("%w: class via the leader: %w", ErrNotApplied, err)
	}
	return res, res.err()
}

// serveClass deploys or deletes the class a follower sent, on the
// leader; a deployed source is compiled again here, as the public API
// would, before anything is proposed.
func (n *Node) serveClass(w http.ResponseWriter, r *http.Request) {
	var req classRequest
	if err := readPeerBody(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n.raft.State() != raft.Leader {
		writePeerAnswer(w, classReplyOf(0, false, ErrNotLeader))
		return
	}
	if req.Delete {
		found, err := n.DeleteClass(r.Context(), req.Name)
		writePeerAnswer(w, classReplyOf(0, found, err))
		return
	}
	if _, err := classes.Compile(req.Name, req.Source, classes.Lang(req.Lang)); err != nil {
		writePeerAnswer(w, classReplyOf(0, false, fmt.Errorf("%w: %v", objects.ErrInvalid, err)))
		return
	}
	version, err := n.DeployClass(r.Context(), req.Name, classes.Lang(req.Lang), req.Source)
	writePeerAnswer(w, classReplyOf(version, false, err))
}
