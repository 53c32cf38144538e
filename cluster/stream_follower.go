package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// The forwarding stream's follower side: the stream to the current leader
// and those to former leaders that still owe answers. See wire.go for the
// protocol.

var errShuttingDown = errors.New("node is shutting down")

// streams is the follower's side: the stream to the current leader, and
// those to former leaders that still owe answers.
type streams struct {
	from string // this node's id
	// dial connects to a leader's peer service.
	dial func(ctx context.Context, addr raft.ServerAddress) (net.Conn, error)
	// retireAfter is how long a former leader's stream may take to
	// answer what it owes; retireCallsAfter (a time.Duration), when it
	// owes a class call (HandleStreamCalls sets it).
	retireAfter      time.Duration
	retireCallsAfter atomic.Int64

	dialMu sync.Mutex // one dial at a time; the others wait for its stream
	mu     sync.Mutex // guards cur, old and closed
	cur    *stream
	old    map[*stream]struct{}
	closed bool
}

// write queues w on the stream to the leader, opening one if needed, and
// waits for its outcome. Failures are results too: fwdNotApplied when the
// leader cannot have seen the write, fwdUnknown once it may have.
func (ss *streams) write(ctx context.Context, leaderID string, leader raft.ServerAddress, w forwardedWrite) forwardedResult {
	p := newPendingRequest(w, nil)
	s, err := ss.get(ctx, leaderID, leader)
	if err != nil {
		return *p.failed(fmt.Errorf("%w: forwarding to the leader: %w", ErrNotApplied, err)).res.R
	}
	return *s.roundTrip(ctx, p).res.R
}

// roundTrip queues p on s and waits for its answer; failures are answers
// too, as for write.
func (s *stream) roundTrip(ctx context.Context, p *pendingRequest) answer {
	if err := s.enqueue(p); err != nil {
		return p.failed(fmt.Errorf("%w: forwarding to the leader: %w", ErrNotApplied, err))
	}
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		if s.forget(p) {
			return p.failed(fmt.Errorf("%w: %w", ErrNotApplied, ctx.Err()))
		}
		return p.failed(fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err()))
	}
}

// get returns the open stream to leader, dialing one if there is
// none; the stream to a former leader is retired: it closes once it owes
// no answer.
func (ss *streams) get(ctx context.Context, leaderID string, leader raft.ServerAddress) (*stream, error) {
	if s := ss.current(leader); s != nil {
		return s, nil
	}
	ss.dialMu.Lock()
	defer ss.dialMu.Unlock()
	if s := ss.current(leader); s != nil {
		return s, nil
	}
	s, err := ss.dialStream(ctx, leaderID, leader)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		s.fail(errShuttingDown)
		return nil, errShuttingDown
	}
	prev := ss.cur
	if prev != nil {
		if ss.old == nil {
			ss.old = map[*stream]struct{}{}
		}
		ss.old[prev] = struct{}{}
	}
	ss.cur = s
	ss.mu.Unlock()
	// Outside mu: a stream that fails calls ended, which takes it.
	if prev != nil {
		prev.retire(ss.retireAfter)
	}
	return s, nil
}

// current is the open stream to leader, or nil.
func (ss *streams) current(leader raft.ServerAddress) *stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.cur; s != nil && s.addr == leader && !s.broken() {
		return s
	}
	return nil
}

// ended forgets s once it has failed or closed.
func (ss *streams) ended(s *stream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cur == s {
		ss.cur = nil
	}
	delete(ss.old, s)
}

// cut fails the streams to the given node ids (fault injection: the
// dialer cuts its connections, as the Raft stream layer does).
func (ss *streams) cut(ids map[string]bool) {
	for _, s := range ss.all() {
		if ids[s.leaderID] {
			s.fail(errPartitioned)
		}
	}
}

func (ss *streams) closeAll(err error) {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
	for _, s := range ss.all() {
		s.fail(err)
	}
}

func (ss *streams) all() []*stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*stream
	if ss.cur != nil {
		out = append(out, ss.cur)
	}
	for s := range ss.old {
		out = append(out, s)
	}
	return out
}

// pendingRequest is a forwarded write, or class call, waiting for its
// outcome.
type pendingRequest struct {
	w    forwardedWrite
	call *msgpack.RawMessage // set: a call (on a /2 stream only), w unused
	id   uint64
	done chan answer // buffered: it gets exactly one answer
}

// answer is what a pendingRequest gets: the leader's result, or, for a
// call the stream could not carry, err (a write's failure is a result).
type answer struct {
	res streamResultV2
	err error
}

func newPendingRequest(w forwardedWrite, call *msgpack.RawMessage) *pendingRequest {
	return &pendingRequest{w: w, call: call, done: make(chan answer, 1)}
}

// failed is p's answer when the stream could not carry it: err says
// whether the leader may have seen it.
func (p *pendingRequest) failed(err error) answer {
	if p.call != nil {
		return answer{res: streamResultV2{ID: p.id}, err: err}
	}
	r := resultOf(objects.TxnResult{}, 0, err)
	return answer{res: streamResultV2{ID: p.id, R: &r}}
}

// frame is p as a request in the frames of version proto.
func (p *pendingRequest) frame(proto string) any {
	switch {
	case proto == streamProto:
		return &streamRequest{ID: p.id, W: p.w}
	case p.call != nil:
		return &streamRequestV2{ID: p.id, C: p.call}
	default:
		return &streamRequestV2{ID: p.id, W: &p.w}
	}
}

// stream is one forwarding connection to a leader.
type stream struct {
	ss       *streams
	leaderID string
	addr     raft.ServerAddress
	conn     net.Conn
	proto    string // the version the leader agreed to: streamProto or streamProtoV2

	wake chan struct{} // buffered 1: the queue has writes

	mu      sync.Mutex // guards the fields below
	queue   []*pendingRequest
	pending map[uint64]*pendingRequest // sent, not answered
	calls   int                        // class calls in pending or queue
	nextID  uint64
	err     error // set once the stream has failed or closed
	retired bool
}

// dialStream connects to the leader's peer service and upgrades the
// connection, to /2 or, when the leader offers only /1, to /1. Nothing is
// sent on it yet, so any failure here means no write reached the leader.
func (ss *streams) dialStream(ctx context.Context, leaderID string, leader raft.ServerAddress) (*stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := ss.dialProto(ctx, leaderID, leader, streamProtoV2)
	var refused *upgradeRefusedError
	if errors.As(err, &refused) && slices.Contains(refused.offered, streamProto) {
		// A leader built before /2 (a rolling upgrade).
		return ss.dialProto(ctx, leaderID, leader, streamProto)
	}
	return s, err
}

// upgradeRefusedError is a leader's 426 to the stream version asked for,
// with the versions it offers instead.
type upgradeRefusedError struct {
	asked   string
	offered []string
}

func (e *upgradeRefusedError) Error() string {
	return fmt.Sprintf("leader refused %s, offers %q", e.asked, e.offered)
}

// streamProtoOffered lists the versions an Upgrade header names.
func streamProtoOffered(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Upgrade") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// dialProto connects to the leader and asks for stream version proto.
func (ss *streams) dialProto(ctx context.Context, leaderID string, leader raft.ServerAddress, proto string) (*stream, error) {
	conn, err := ss.dial(ctx, leader)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+string(leader)+pathStream, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	req.Header.Set(headerFrom, ss.from)
	br := bufio.NewReaderSize(conn, 32<<10)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode == http.StatusUpgradeRequired {
			return nil, &upgradeRefusedError{asked: proto, offered: streamProtoOffered(resp.Header)}
		}
		return nil, fmt.Errorf("leader answered the upgrade with %s", resp.Status)
	}
	if got := resp.Header.Get("Upgrade"); !strings.EqualFold(got, proto) {
		conn.Close()
		return nil, fmt.Errorf("leader upgraded to %q, asked for %s", got, proto)
	}
	conn.SetDeadline(time.Time{})
	s := &stream{ss: ss, leaderID: leaderID, addr: leader, conn: conn, proto: proto,
		wake: make(chan struct{}, 1), pending: map[uint64]*pendingRequest{}}
	go s.send()
	go s.receive(br)
	return s, nil
}

func (s *stream) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil || s.retired
}

// enqueue hands p to the sender; an error means p was not queued.
func (s *stream) enqueue(p *pendingRequest) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.queue = append(s.queue, p)
	if p.call != nil {
		s.calls++
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	return nil
}

// forget drops p, whose caller gave up. It reports whether p was still
// queued, so never sent.
func (s *stream) forget(p *pendingRequest) (unsent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.queue, p); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
		s.answered(p)
		return true
	}
	if s.pending[p.id] == p {
		delete(s.pending, p.id)
		s.answered(p)
	}
	return false
}

// answered notes that p left the queue or pending; mu is held.
func (s *stream) answered(p *pendingRequest) {
	if p.call != nil {
		s.calls--
	}
}

// send writes the queued writes as frames, all that queued up while the
// previous ones were being written in one flush.
func (s *stream) send() {
	bw := bufio.NewWriterSize(s.conn, 32<<10)
	enc := newFrameEncoder(bw)
	for range s.wake {
		// Let the handlers that are about to queue a write do so first:
		// under load this puts several writes in one syscall, for nothing
		// when idle (no other goroutine is runnable).
		runtime.Gosched()
		s.mu.Lock()
		if s.err != nil {
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		for _, p := range batch {
			s.nextID++
			p.id = s.nextID
			s.pending[p.id] = p
		}
		s.mu.Unlock()
		for _, p := range batch {
			if err := enc.Encode(p.frame(s.proto)); err != nil {
				s.fail(err)
				return
			}
		}
		if err := bw.Flush(); err != nil {
			s.fail(err)
			return
		}
	}
}

// receive delivers the leader's answers.
func (s *stream) receive(br *bufio.Reader) {
	dec := msgpack.NewDecoder(br)
	for {
		res, err := s.readResult(dec)
		if err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		p := s.pending[res.ID]
		if p != nil {
			delete(s.pending, res.ID)
			s.answered(p)
		}
		drained := s.drained()
		s.mu.Unlock()
		if p != nil {
			if (p.call != nil) != (res.C != nil) || (p.call == nil) != (res.R != nil) {
				// The leader answered a write as a call or the
				// reverse: it had the request, nothing more is known.
				err := fmt.Errorf("%w: leader answered request %d with the wrong kind of result", ErrOutcomeUnknown, res.ID)
				p.done <- p.failed(err)
				s.fail(err)
				return
			}
			p.done <- answer{res: res}
		}
		if drained {
			s.fail(errRetired)
			return
		}
	}
}

// readResult decodes the next answer in the frames of the stream's
// version, reading each frame whole first (fsm.DecodeWhole), as the
// leader reads requests (readStreamRequest).
func (s *stream) readResult(dec *msgpack.Decoder) (streamResultV2, error) {
	if s.proto == streamProto {
		var res streamResult
		err := fsm.DecodeWhole(dec, &res)
		return streamResultV2{ID: res.ID, R: &res.R}, err
	}
	var res streamResultV2
	err := fsm.DecodeWhole(dec, &res)
	return res, err
}

var errRetired = errors.New("stream to a former leader closed")

// drained reports whether s is retired and owes no answer; mu is held.
func (s *stream) drained() bool {
	return s.retired && len(s.pending) == 0 && len(s.queue) == 0
}

// retire stops new writes from using s; it closes once answered, or after
// wait in any case.
func (s *stream) retire(wait time.Duration) {
	s.mu.Lock()
	s.retired = true
	drained := s.drained()
	if s.calls > 0 {
		wait = max(wait, time.Duration(s.ss.retireCallsAfter.Load()))
	}
	s.mu.Unlock()
	if drained {
		s.fail(errRetired)
		return
	}
	time.AfterFunc(wait, func() { s.fail(errors.New("former leader did not answer in time")) })
}

// fail closes s once: the writes sent on it may have reached the leader
// (outcome unknown), those still queued did not (not applied).
func (s *stream) fail(cause error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = cause
	sent, queued := s.pending, s.queue
	s.pending, s.queue, s.calls = nil, nil, 0
	close(s.wake) // under mu: enqueue sends on it only while err is nil
	s.mu.Unlock()
	s.conn.Close()
	s.ss.ended(s)
	for _, p := range sent {
		p.done <- p.failed(fmt.Errorf("%w: forwarding stream to the leader: %w", ErrOutcomeUnknown, cause))
	}
	for _, p := range queued {
		p.done <- p.failed(fmt.Errorf("%w: forwarding stream to the leader: %w", ErrNotApplied, cause))
	}
}
