package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// A follower serves writes and linearizable reads without proxying each
// HTTP request: it sends the leader batches of writes (POST
// /_internal/propose) and asks it for read indexes (POST
// /_internal/readindex), one call for every request waiting at that
// moment, then reads from its own FSM once it has applied up to the index
// (the ReadIndex protocol of the Raft dissertation §6.4, as etcd serves
// follower reads). These are the routes of InternalHandler.

const (
	pathPropose   = "/_internal/propose"
	pathReadIndex = "/_internal/readindex"
	// forwardInflight bounds the batches of writes in flight to the leader.
	forwardInflight = 4
)

// forwardedWrite is one write a follower sends the leader.
type forwardedWrite struct {
	Object  string      `msgpack:"o"`
	Txn     objects.Txn `msgpack:"t"`
	IdemKey string      `msgpack:"i,omitempty"`
}

// size is about how many bytes w takes in a batch: batches stop growing
// past maxBatchBytes, so one request stays small however large the values.
func (w forwardedWrite) size() int {
	n := len(w.Object) + len(w.IdemKey)
	for _, c := range w.Txn.Compare {
		n += len(c.Key) + len(c.Value)
	}
	for _, ops := range [][]objects.Op{w.Txn.Success, w.Txn.Failure} {
		for _, op := range ops {
			n += len(op.Key) + len(op.Value) + 16
		}
	}
	return n
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
	mux.HandleFunc("POST "+pathPropose, n.servePropose)
	mux.HandleFunc("POST "+pathReadIndex, n.serveReadIndex)
	return mux
}

// servePropose applies a follower's batch of writes; they go to the
// proposer together, so they usually share one log entry.
func (n *Node) servePropose(w http.ResponseWriter, r *http.Request) {
	var batch []forwardedWrite
	if err := msgpack.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&batch); err != nil {
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	out := make([]forwardedResult, len(batch))
	if !n.IsLeader() {
		for i := range out {
			out[i] = resultOf(objects.TxnResult{}, 0, ErrNotLeader)
		}
	} else {
		var wg sync.WaitGroup
		for i, fw := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, index, err := n.writeLocal(r.Context(), fw.Object, fw.Txn, fw.IdemKey)
				out[i] = resultOf(res, index, err)
			}()
		}
		wg.Wait()
	}
	body, err := msgpack.Marshal(out)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(body)
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
	hc *http.Client

	writes chan *pendingWrite
	slots  chan struct{}

	// mu guards readers and reading: reads waiting for the next read
	// index round (see verifier, the same pattern).
	mu      sync.Mutex
	readers []chan readIndexResult
	reading bool
}

type pendingWrite struct {
	w    forwardedWrite
	done chan forwardedResult // buffered
}

type readIndexResult struct {
	index uint64
	err   error
}

func newForwarder(n *Node) *forwarder {
	return &forwarder{
		n: n,
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}},
		writes: make(chan *pendingWrite),
		slots:  make(chan struct{}, forwardInflight),
	}
}

// write sends one write to the leader with whatever others are waiting.
func (f *forwarder) write(ctx context.Context, leaderHTTP string, w forwardedWrite) (objects.TxnResult, uint64, error) {
	p := &pendingWrite{w: w, done: make(chan forwardedResult, 1)}
	select {
	case f.writes <- p:
	case f.slots <- struct{}{}:
		// No batch is being formed: this call forms one.
		go f.send(leaderHTTP, p)
	case <-ctx.Done():
		return objects.TxnResult{}, 0, fmt.Errorf("%w: %v", ErrNotApplied, ctx.Err())
	}
	select {
	case r := <-p.done:
		return r.Result, r.Index, r.err()
	case <-ctx.Done():
		return objects.TxnResult{}, 0, fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err())
	}
}

// send collects the writes waiting now behind first and posts them to the
// leader in one request; it holds one of the in-flight slots.
func (f *forwarder) send(leaderHTTP string, first *pendingWrite) {
	defer func() { <-f.slots }()
	batch := []*pendingWrite{first}
	size := first.w.size()
fill:
	for len(batch) < maxBatchCount && size < maxBatchBytes {
		select {
		case p := <-f.writes:
			batch = append(batch, p)
			size += p.w.size()
		default:
			break fill
		}
	}
	ws := make([]forwardedWrite, len(batch))
	for i, p := range batch {
		ws[i] = p.w
	}
	results, err := f.post(leaderHTTP, ws)
	for i, p := range batch {
		if err != nil {
			p.done <- resultOf(objects.TxnResult{}, 0, err)
			continue
		}
		p.done <- results[i]
	}
}

// post sends a batch; a failure before the request could reach the leader
// is ErrNotApplied, after it ErrOutcomeUnknown.
func (f *forwarder) post(leaderHTTP string, ws []forwardedWrite) ([]forwardedResult, error) {
	body, err := msgpack.Marshal(ws)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrNotApplied, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.n.cfg.ApplyTimeout+time.Second)
	defer cancel()
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { sent.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leaderHTTP+pathPropose, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotApplied, err)
	}
	req.Header.Set("Content-Type", "application/msgpack")
	resp, err := f.hc.Do(req)
	if err != nil {
		if sent.Load() {
			return nil, fmt.Errorf("%w: forwarding to the leader: %v", ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("%w: forwarding to the leader: %v", ErrNotApplied, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		// The leader refused the batch as a whole before applying any.
		return nil, fmt.Errorf("%w: leader answered %d", ErrNotApplied, resp.StatusCode)
	}
	var out []forwardedResult
	if err := msgpack.NewDecoder(resp.Body).Decode(&out); err != nil || len(out) != len(ws) {
		return nil, fmt.Errorf("%w: reading the leader's answer: %v", ErrOutcomeUnknown, err)
	}
	return out, nil
}

// readIndex gets a read index from the leader in a round shared by every
// read waiting at this moment; the round starts after the caller joined.
func (f *forwarder) readIndex(ctx context.Context, leaderHTTP string) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	f.mu.Lock()
	f.readers = append(f.readers, ch)
	if !f.reading {
		f.reading = true
		go f.readRounds(leaderHTTP)
	}
	f.mu.Unlock()
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *forwarder) readRounds(leaderHTTP string) {
	for {
		f.mu.Lock()
		batch := f.readers
		f.readers = nil
		if len(batch) == 0 {
			f.reading = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		index, err := f.fetchReadIndex(leaderHTTP)
		for _, ch := range batch {
			ch <- readIndexResult{index, err}
		}
	}
}

func (f *forwarder) fetchReadIndex(leaderHTTP string) (uint64, error) {
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
