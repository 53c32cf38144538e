package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// A follower sends a class call to the leader on its forwarding stream
// when the leader speaks /2 (the node carries the call's frame as it is,
// cluster/stream_calls.go; runStreamCall runs it on the leader); to a
// leader that speaks only /1 (a build before it, during a rolling
// upgrade), as POST pathCall with an msgpack forwardedCall, answered with
// an msgpack forwardedCallResult. Every leader keeps serving pathCall.
// The golden frames and bodies of both are in the repository's
// testdata/frames (v2-stream-*-call*, v1-call-post*).

// pathCall is the peer service's route of a forwarded call.
const pathCall = "/_internal/call"

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

// wireHeader is one header line of a forwarded call or its answer.
type wireHeader struct {
	Name  string `msgpack:"n"`
	Value string `msgpack:"v"`
}

// wireHeaders turns h into lines sorted by name, values in order.
func wireHeaders(h http.Header) []wireHeader {
	fields := fsm.HeaderFields(h)
	if fields == nil {
		return nil
	}
	out := make([]wireHeader, len(fields))
	for i, f := range fields {
		out[i] = wireHeader(f)
	}
	return out
}

// httpHeader turns lines back into an http.Header.
func httpHeader(lines []wireHeader) http.Header {
	h := make(http.Header, len(lines))
	for _, l := range lines {
		h.Add(l.Name, l.Value)
	}
	return h
}

// Outcome codes of a forwarded call. objects.CodeOK and CodeInvalid (a
// name the leader refused), and the values of the node's forwarded
// writes for "not applied", "unknown" and the idempotency table's
// refusals (cluster/wire.go; a follower built before the last two reads
// them as unknown): part of the wire, they never change.
const (
	codeNotApplied   = objects.CodeInvalid + 1
	codeUnknown      = objects.CodeInvalid + 2
	codeIdemMismatch = objects.CodeInvalid + 3
	codeIdemFull     = objects.CodeInvalid + 4
)
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
	case errors.Is(err, objects.ErrInvalid):
		return forwardedCallResult{Code: objects.CodeInvalid, Msg: err.Error()}
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNotApplied):
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
	case objects.CodeInvalid:
		return nil, fmt.Errorf("%w: at the leader: %s", objects.ErrInvalid, r.Msg)
	case codeNotApplied:
		return nil, fmt.Errorf("%w: at the leader: %s", cluster.ErrNotApplied, r.Msg)
	default:
		return nil, fmt.Errorf("%w: at the leader: %s", cluster.ErrOutcomeUnknown, r.Msg)
	}
}

// checkNames checks the class and object names a peer sent, as the api
// checks those of its own requests: the leader runs nothing for a name
// the api would have refused.
func (h *Host) checkNames(class, name string) error {
	if err := checkClassKey(class); err != nil {
		return fmt.Errorf("%w: %v", objects.ErrInvalid, err)
	}
	switch {
	case name == "":
		return fmt.Errorf("%w: object name is empty", objects.ErrInvalid)
	case len(name) > h.cfg.MaxNameBytes:
		return fmt.Errorf("%w: object name is longer than %d bytes", objects.ErrInvalid, h.cfg.MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: object name is not valid UTF-8", objects.ErrInvalid)
	}
	return nil
}

// serveCall runs a forwarded call on the leader. A node that is not the
// leader runs nothing and says so (not applied).
func (h *Host) serveCall(w http.ResponseWriter, r *http.Request) {
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
	h.callsOnPost.Add(1)
	writeCallResult(w, h.runForwarded(r.Context(), &fc))
}

func writeCallResult(w http.ResponseWriter, res forwardedCallResult) {
	body, err := msgpack.Marshal(&res)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(body)
}

// runForwarded runs a call a follower forwarded, on the leader, by
// either way it came. A node that is not the leader runs nothing and
// says so (not applied).
func (h *Host) runForwarded(ctx context.Context, fc *forwardedCall) forwardedCallResult {
	return h.runForwardedNamed(ctx, fc, "")
}

// runForwardedNamed is runForwarded of a call through an id made from
// idName.
func (h *Host) runForwardedNamed(ctx context.Context, fc *forwardedCall, idName string) forwardedCallResult {
	if !h.node.IsLeader() {
		return callResultOf(nil, cluster.ErrNotLeader)
	}
	if err := h.checkNames(fc.Class, fc.Name); err != nil {
		return callResultOf(nil, err)
	}
	req := &classes.Request{Method: fc.Method, URL: fc.URL, Header: httpHeader(fc.Header), Body: fc.Body}
	// The call may run longer than the API's request deadline that this
	// route shares; and, like a write, it goes on if the follower stops
	// waiting (which then reports an unknown outcome).
	return callResultOf(h.call(context.WithoutCancel(ctx), fc.Class, classes.StubID{ID: fc.Name, Name: idName}, req, fc.IdemKey))
}

// forward sends a call to the leader and waits for its outcome: on the
// forwarding stream, or as a POST to a leader that speaks only /1. A
// failure before the call was sent is not applied; after, the call may
// have run and committed (outcome unknown).
// A /1 leader has no scripts, hence no names: the POST carries none.
func (h *Host) forward(ctx context.Context, leaderID string, leader raft.ServerAddress, c *namedCall) (*CallResult, error) {
	res, err := h.forwardNamed(ctx, leaderID, leader, c)
	switch {
	case errors.Is(err, cluster.ErrStreamV1):
		return h.post(ctx, leader, *c.fetch())
	case err != nil:
		return nil, err
	}
	return res.outcome()
}

// encodeFrame encodes v as the stream's frames are (msgpack arrays of
// the fields in order, as cluster's frame encoder writes them).
func encodeFrame(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// post sends a call to a leader that speaks only /1 as one request. A
// failure before a connection to the leader existed sent nothing (not
// applied); after, the call may have run and committed (outcome unknown).
func (h *Host) post(ctx context.Context, leader raft.ServerAddress, fc forwardedCall) (*CallResult, error) {
	data, err := msgpack.Marshal(&fc)
	if err != nil {
		return nil, fmt.Errorf("encode forwarded call: %w", err)
	}
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+string(leader)+pathCall, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", cluster.ErrNotApplied, err)
	}
	req.Header.Set("Content-Type", "application/msgpack")
	failed := func(cause error) error {
		if connected.Load() {
			return fmt.Errorf("%w: call forwarded to the leader: %v", cluster.ErrOutcomeUnknown, cause)
		}
		return fmt.Errorf("%w: call to the leader: %v", cluster.ErrNotApplied, cause)
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
			return nil, fmt.Errorf("%w: leader answered %d to a forwarded call", cluster.ErrNotApplied, resp.StatusCode)
		}
		return nil, failed(fmt.Errorf("leader answered %d", resp.StatusCode))
	}
	// Read whole, then decode: msgpack sizes a slice by the length an
	// answer declares before reading an element (fsm.WellFormed).
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardedCallBytes))
	if err == nil {
		err = fsm.WellFormed(b)
	}
	var r forwardedCallResult
	if err == nil {
		err = msgpack.Unmarshal(b, &r)
	}
	if err != nil {
		return nil, failed(err)
	}
	return r.outcome()
}

// runStreamCall runs, on the leader, a call a follower sent on its
// stream (cluster.StreamCallHandler): a call is bounded as a POST on
// pathCall is, and one over the bound is answered not applied without
// running.
func (h *Host) runStreamCall(ctx context.Context, call []byte) []byte {
	var res forwardedCallResult
	var fr namedCall
	switch err := decodeCall(call, &fr); {
	case len(call) > maxForwardedCallBytes:
		res = callResultOf(nil, fmt.Errorf("%w: forwarded call of %d bytes, over the limit of %d", cluster.ErrNotApplied, len(call), maxForwardedCallBytes))
	case err != nil:
		res = callResultOf(nil, fmt.Errorf("%w: %s: %v", cluster.ErrNotApplied, badCallMsg, err))
	case fr.RPC:
		h.callsOnStream.Add(1)
		res = h.runForwardedRPC(ctx, &fr)
	default:
		h.callsOnStream.Add(1)
		res = h.runForwardedNamed(ctx, fr.fetch(), fr.IDName)
	}
	answer, err := encodeFrame(&res)
	if err != nil {
		// Cannot happen for these types; the follower learns nothing.
		answer, _ = encodeFrame(&forwardedCallResult{Code: codeUnknown, Msg: err.Error()})
	}
	return answer
}

// badCallMsg is in the answer to a frame the leader could not read.
const badCallMsg = "bad forwarded call"

// decodeCall reads a call frame of any layout (rpc.go): a fetch's, an
// RPC's, or a named call's.
func decodeCall(b []byte, fc *namedCall) error {
	if len(b) > maxForwardedCallBytes {
		return nil // refused by size
	}
	if err := fsm.WellFormed(b); err != nil {
		return err
	}
	n, err := msgpack.NewDecoder(bytes.NewReader(b)).DecodeArrayLen()
	switch {
	case err == nil && n == fetchFrameFields:
		// A fetch's frame, as /2 has always written it.
		var c forwardedCall
		if err := msgpack.Unmarshal(b, &c); err != nil {
			return err
		}
		*fc = namedCall{Class: c.Class, Name: c.Name, Method: c.Method, URL: c.URL, Header: c.Header,
			Body: c.Body, IdemKey: c.IdemKey}
		return nil
	case err == nil && n == namedFrameFields:
		return msgpack.Unmarshal(b, fc)
	}
	var r forwardedRPC
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return err
	}
	*fc = namedCall{Class: r.Class, Name: r.Name, Method: r.Method, URL: r.URL, Header: r.Header,
		Body: r.Body, IdemKey: r.IdemKey, RPC: r.RPC}
	return nil
}

// peerClient posts to the leader's peer service over the node's peer
// network, with pooled connections.
type peerClient struct {
	hc *http.Client
}

// newPeerClient keeps up to idle connections to each peer alive.
func newPeerClient(p Peers, idle int) *peerClient {
	return &peerClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return p.DialPeer(ctx, raft.ServerAddress(addr))
		},
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

func (pc *peerClient) close() { pc.hc.CloseIdleConnections() }
