package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The peer service's wire: every type that crosses it between two nodes,
// and the routes. The service speaks HTTP/1.1 on the peer connections of
// the Raft port (see mux.go). Writes travel on one long-lived stream per
// follower: an upgrade of GET pathStream to streamProto, after which the
// follower sends streamRequests and the leader answers each with a
// streamResult carrying the same id, in commit order rather than request
// order, as msgpack arrays. The other routes are one request each, with
// msgpack bodies. testdata/ at the top of the repository holds golden
// frames; a change here that fails them would break a cluster upgraded
// one node at a time.
//
// Versions of the stream. /1 carries writes only (streamRequest,
// streamResult). /2 carries writes and class calls (streamRequestV2,
// streamResultV2; stream_calls.go): a follower asks for /2 and, when the
// leader answers 426 offering only /1 (a build before /2), opens the
// stream as /1, and the host sends its calls as POSTs on its own route
// (/_internal/call), which every leader keeps serving. The host's routes
// (calls, relayed WebSockets) and the call frames it puts on the stream
// are its own (package host); their golden frames are tested there. A
// leader serves both versions, each in its own frames, so that a cluster
// upgrades one node at a time.
//
// A version's frames never change. msgpack refuses an array-encoded
// struct whose field count differs from the type's, so a field added to
// any type inside a frame (forwardedWrite, the host's forwardedCall,
// wireTxn, the results) would break the older peer: that takes a new
// version. /3 would go as /2 did: new frame types streamRequestV3 and
// streamResultV3 (the /2 ones kept as they are, and their golden frames
// with them); the leader decodes by the version agreed in the upgrade
// (readStreamRequest, writeStreamResult), so a /3 leader reads a /2
// follower's frames with these types and answers it in streamResultV2;
// a /3 follower asks for /3 and on a 426 takes the highest version the
// leader's Upgrade header offers (streamProtoOffered), /2 or /1.
const (
	pathStream    = "/_internal/stream"
	pathReadIndex = "/_internal/readindex"
	pathJoin      = "/_internal/join"
	pathRemove    = "/_internal/remove"
	pathClass     = "/_internal/class" // a class deploy or delete (classreg.go)
	streamProto   = "dobj-forward/1"   // writes only
	streamProtoV2 = "dobj-forward/2"   // writes and class calls
	headerFrom    = "X-Dobj-From"      // the follower's node id, in the upgrade request
)

type streamRequest struct {
	ID uint64         `msgpack:"id"`
	W  forwardedWrite `msgpack:"w"`
}

type streamResult struct {
	ID uint64          `msgpack:"id"`
	R  forwardedResult `msgpack:"r"`
}

// streamRequestV2 is a frame a follower sends on a /2 stream: exactly one
// of W (a write) and C (a class call, the host's forwardedCall, which the
// node carries as it is) is set.
type streamRequestV2 struct {
	ID uint64              `msgpack:"id"`
	W  *forwardedWrite     `msgpack:"w"`
	C  *msgpack.RawMessage `msgpack:"c"`
}

// streamResultV2 is the leader's answer on a /2 stream, with the id of
// the request: R for a write, C for a call (the host's
// forwardedCallResult, carried as it is).
type streamResultV2 struct {
	ID uint64              `msgpack:"id"`
	R  *forwardedResult    `msgpack:"r"`
	C  *msgpack.RawMessage `msgpack:"c"`
}

// forwardedWrite is one write a follower sends the leader.
type forwardedWrite struct {
	Object  string  `msgpack:"o"`
	Txn     wireTxn `msgpack:"t"`
	IdemKey string  `msgpack:"i,omitempty"`
}

// Outcome codes of a forwarded write, after the domain's own
// (objects.CodeOK, CodeConflict, CodeInvalid).
const (
	codeNotApplied    = objects.CodeInvalid + 1 + iota // includes "the leader is not the leader any more"
	codeUnknown                                        // the outcome is unknown: it may still commit
	codeIdemMismatch                                   // fsm.ErrIdempotencyMismatch: nothing applied
	codeIdemFull                                       // fsm.ErrIdempotencyFull: not applied, retry later
	codeUnknownMember                                  // a removal of an id that is not a member; nothing changed
	codeTooLarge                                       // objects.ErrTooLarge: over a limit, nothing applied
)

// forwardedResult is the leader's answer to one forwardedWrite, and the
// outcome of the other peer calls.
type forwardedResult struct {
	Result wireTxnResult `msgpack:"r"`
	Index  uint64        `msgpack:"x"`
	Code   uint8         `msgpack:"c"`
	Key    string        `msgpack:"k,omitempty"`
	Msg    string        `msgpack:"m,omitempty"`
}

// joinRequest asks the leader to add a voter and publish its address.
type joinRequest struct {
	ID       string `msgpack:"id"`
	RaftAddr string `msgpack:"raft"`
	HTTPAddr string `msgpack:"http"`
}

// removeRequest asks the leader to remove a member.
type removeRequest struct {
	ID string `msgpack:"id"`
}

func resultOf(res objects.TxnResult, index uint64, err error) forwardedResult {
	r := forwardedResult{Result: wireTxnResultOf(res), Index: index}
	code, key, msg, domain := objects.EncodeError(err)
	switch {
	case domain:
		r.Code, r.Key, r.Msg = code, key, msg
	case errors.Is(err, ErrOutcomeUnknown):
		// Whatever else it wraps: it may still commit.
		r.Code, r.Msg = codeUnknown, err.Error()
	case errors.Is(err, fsm.ErrIdempotencyMismatch):
		r.Code, r.Msg = codeIdemMismatch, err.Error()
	case errors.Is(err, fsm.ErrIdempotencyFull):
		r.Code, r.Msg = codeIdemFull, err.Error()
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNotApplied):
		r.Code, r.Msg = codeNotApplied, err.Error()
	case errors.Is(err, ErrBadMember):
		r.Code, r.Msg = objects.CodeInvalid, err.Error()
	case errors.Is(err, ErrUnknownMember):
		r.Code, r.Msg = codeUnknownMember, err.Error()
	case errors.Is(err, objects.ErrTooLarge):
		r.Code, r.Msg = codeTooLarge, err.Error()
	default:
		r.Code, r.Msg = codeUnknown, err.Error()
	}
	return r
}

func (r forwardedResult) err() error {
	if err, ok := objects.DecodeError(r.Code, r.Key, r.Msg); ok {
		return err
	}
	switch r.Code {
	case codeNotApplied:
		return fmt.Errorf("%w: at the leader: %s", ErrNotApplied, r.Msg)
	case codeUnknownMember:
		return fmt.Errorf("%w: at the leader: %s", ErrUnknownMember, r.Msg)
	case codeTooLarge:
		return fmt.Errorf("%w: at the leader: %s", objects.ErrTooLarge, r.Msg)
	case codeIdemMismatch:
		return fsm.ErrIdempotencyMismatch
	case codeIdemFull:
		return fsm.ErrIdempotencyFull
	}
	return fmt.Errorf("%w: at the leader: %s", ErrOutcomeUnknown, r.Msg)
}

// newFrameEncoder writes frames as msgpack arrays of the fields in order,
// like log entries (fsm.Encode): a third of the encoding time of maps.
// Decoders read either form.
func newFrameEncoder(w io.Writer) *msgpack.Encoder {
	enc := msgpack.NewEncoder(w)
	enc.UseArrayEncodedStructs(true)
	return enc
}

// maxFrameBytes bounds one forwarded write on the wire: a write is at most
// the API's body limit (1 MiB by default) and its names and keys.
const maxFrameBytes = 64 << 20

var errFrameTooLarge = errors.New("forwarded write larger than the frame limit")

// frameReader lets a frame read at most left more bytes, so that a peer
// cannot make the leader buffer without bound. It passes ReadByte through
// so that msgpack reads the buffered reader beneath without another copy.
type frameReader struct {
	r    *bufio.Reader
	left int64
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errFrameTooLarge
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func (f *frameReader) ReadByte() (byte, error) {
	if f.left <= 0 {
		return 0, errFrameTooLarge
	}
	b, err := f.r.ReadByte()
	if err == nil {
		f.left--
	}
	return b, err
}

func (f *frameReader) UnreadByte() error {
	if err := f.r.UnreadByte(); err != nil {
		return err
	}
	f.left++
	return nil
}

// The peer frames' own encoding of the domain's values (issue 19): a
// forwarded write's transaction and its result, converted here at the
// edge to and from objects' types (the host has its calls' own).
// Names and field order are the ones every earlier build wrote
// (testdata/frames pins them): a change is a new protocol version.

// wireTxn is objects.Txn in a frame.
type wireTxn struct {
	Compare []wireCompare `msgpack:"compare,omitempty"`
	Success []wireOp      `msgpack:"success,omitempty"`
	Failure []wireOp      `msgpack:"failure,omitempty"`
}

// wireOp is objects.Op in a frame. By 0 is omitted and means 0.
type wireOp struct {
	Op    string          `msgpack:"op"`
	Key   string          `msgpack:"key,omitempty"`
	Value json.RawMessage `msgpack:"value,omitempty"`
	By    int64           `msgpack:"by,omitempty"`
}

// wireCompare is objects.Compare in a frame.
type wireCompare struct {
	Key   string          `msgpack:"key"`
	Op    string          `msgpack:"op"`
	Value json.RawMessage `msgpack:"value,omitempty"`
}

// wireTxnResult is objects.TxnResult in a frame.
type wireTxnResult struct {
	Succeeded bool         `msgpack:"succeeded"`
	Results   []wireResult `msgpack:"results"`
}

// wireResult is objects.Result in a frame.
type wireResult struct {
	Op      string          `msgpack:"op"`
	Key     string          `msgpack:"key,omitempty"`
	Found   *bool           `msgpack:"found,omitempty"`
	Value   json.RawMessage `msgpack:"value,omitempty"`
	Deleted *bool           `msgpack:"deleted,omitempty"`
	Count   *int64          `msgpack:"count,omitempty"`
}

// convert maps in through f, keeping nil as nil so that a decoded frame
// is the value that was encoded.
func convert[From, To any](in []From, f func(From) To) []To {
	if in == nil {
		return nil
	}
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func wireTxnOf(t objects.Txn) wireTxn {
	op := func(o objects.Op) wireOp { return wireOp(o) }
	return wireTxn{Compare: convert(t.Compare, func(c objects.Compare) wireCompare { return wireCompare(c) }),
		Success: convert(t.Success, op), Failure: convert(t.Failure, op)}
}

func (w wireTxn) txn() objects.Txn {
	op := func(o wireOp) objects.Op { return objects.Op(o) }
	return objects.Txn{Compare: convert(w.Compare, func(c wireCompare) objects.Compare { return objects.Compare(c) }),
		Success: convert(w.Success, op), Failure: convert(w.Failure, op)}
}

func wireTxnResultOf(r objects.TxnResult) wireTxnResult {
	return wireTxnResult{Succeeded: r.Succeeded, Results: convert(r.Results, func(x objects.Result) wireResult { return wireResult(x) })}
}

func (w wireTxnResult) result() objects.TxnResult {
	return objects.TxnResult{Succeeded: w.Succeeded, Results: convert(w.Results, func(x wireResult) objects.Result { return objects.Result(x) })}
}
