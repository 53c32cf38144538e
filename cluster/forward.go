package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// A follower serves writes and linearizable reads without proxying each
// HTTP request. Writes go to the leader on one long-lived connection per
// follower (an HTTP/1.1 upgrade of GET /_internal/stream to dobj-forward/1,
// then msgpack frames both ways): a write is a frame as soon as it arrives,
// the leader answers each as its entry commits, and each side writes
// whatever has queued up meanwhile in one syscall. Read indexes come from
// POST /_internal/readindex, one call for every read waiting at that
// moment; the follower then reads from its own FSM once it has applied up
// to the index (the ReadIndex protocol of the Raft dissertation §6.4, as
// etcd serves follower reads). These are the routes of InternalHandler.

const (
	pathStream    = "/_internal/stream"
	pathReadIndex = "/_internal/readindex"
	streamProto   = "dobj-forward/1"
	headerFrom    = "X-Dobj-From" // the follower's node id, in the upgrade request
)

// forwardedWrite is one write a follower sends the leader.
type forwardedWrite struct {
	Object  string      `msgpack:"o"`
	Txn     objects.Txn `msgpack:"t"`
	IdemKey string      `msgpack:"i,omitempty"`
}

// Outcome codes of a forwarded write.
const (
	fwdOK uint8 = iota
	fwdConflict
	fwdInvalid
	fwdNotApplied // includes "the leader is not the leader any more"
	fwdUnknown
)

// forwardedResult is the leader's answer to one forwardedWrite.
type forwardedResult struct {
	Result objects.TxnResult `msgpack:"r"`
	Index  uint64            `msgpack:"x"`
	Code   uint8             `msgpack:"c"`
	Key    string            `msgpack:"k,omitempty"`
	Msg    string            `msgpack:"m,omitempty"`
}

func resultOf(res objects.TxnResult, index uint64, err error) forwardedResult {
	r := forwardedResult{Result: res, Index: index}
	var ce *objects.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		r.Code, r.Key, r.Msg = fwdConflict, ce.Key, ce.Reason
	case errors.Is(err, objects.ErrInvalid):
		r.Code, r.Msg = fwdInvalid, err.Error()
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNotApplied):
		r.Code, r.Msg = fwdNotApplied, err.Error()
	default:
		r.Code, r.Msg = fwdUnknown, err.Error()
	}
	return r
}

func (r forwardedResult) err() error {
	switch r.Code {
	case fwdOK:
		return nil
	case fwdConflict:
		return &objects.ConflictError{Key: r.Key, Reason: r.Msg}
	case fwdInvalid:
		return fmt.Errorf("%w: %s", objects.ErrInvalid, r.Msg)
	case fwdNotApplied:
		return fmt.Errorf("%w: at the leader: %s", ErrNotApplied, r.Msg)
	default:
		return fmt.Errorf("%w: at the leader: %s", ErrOutcomeUnknown, r.Msg)
	}
}

// InternalHandler serves the node-to-node routes under /_internal/; the
// api mounts it.
func (n *Node) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStream, n.serveStream)
	mux.HandleFunc("POST "+pathReadIndex, n.serveReadIndex)
	mux.HandleFunc("POST "+pathCall, n.serveCall)
	return mux
}

// serveReadIndex answers a follower's read-index request: the commit
// index captured now, after leadership is confirmed by a heartbeat round
// started after the capture.
func (n *Node) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	index, err := n.readIndex(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	body, _ := msgpack.Marshal(index)
	w.Write(body)
}

// forwarder is a follower's side of those routes.
type forwarder struct {
	n  *Node
	hc *http.Client // read indexes

	// reads shares one read-index request among the reads waiting at
	// the same moment.
	reads rounds[uint64]

	streams streams
}

func newForwarder(n *Node) *forwarder {
	f := &forwarder{
		n: n,
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}},
		streams: streams{n: n},
	}
	f.reads.call = f.fetchReadIndex
	return f
}

// write sends one write to the leader and waits for its outcome.
func (f *forwarder) write(ctx context.Context, leaderID, leaderHTTP string, w forwardedWrite) (objects.TxnResult, uint64, error) {
	r := f.streams.write(ctx, leaderID, leaderHTTP, w)
	return r.Result, r.Index, r.err()
}

// close ends the streams and the idle read-index connections.
func (f *forwarder) close() {
	f.streams.closeAll(errShuttingDown)
	f.hc.CloseIdleConnections()
}

// fetchReadIndex asks the leader known now for a read index.
func (f *forwarder) fetchReadIndex() (uint64, error) {
	_, leaderHTTP := f.n.Leader()
	if leaderHTTP == "" {
		return 0, ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.n.cfg.ApplyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leaderHTTP+pathReadIndex, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: read index from the leader: %v", ErrNotApplied, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("%w: read index: leader answered %d", ErrNotApplied, resp.StatusCode)
	}
	var index uint64
	if err := msgpack.NewDecoder(resp.Body).Decode(&index); err != nil {
		return 0, fmt.Errorf("%w: read index: %v", ErrNotApplied, err)
	}
	return index, nil
}
