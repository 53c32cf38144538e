package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The forwarding stream: after the upgrade, the follower sends
// streamRequests and the leader answers each with a streamResult carrying
// the same id, in commit order rather than request order.

type streamRequest struct {
	ID uint64         `msgpack:"id"`
	W  forwardedWrite `msgpack:"w"`
}

type streamResult struct {
	ID uint64          `msgpack:"id"`
	R  forwardedResult `msgpack:"r"`
}

// serveStream is the leader's side: it takes the connection over, reads
// writes and proposes each as it arrives (the proposer puts those that
// arrive together in one entry), and writes back the outcomes as entries
// commit, all those of one entry in one flush.
func (n *Node) serveStream(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), streamProto) {
		w.Header().Set("Upgrade", streamProto)
		http.Error(w, "this route speaks only "+streamProto, http.StatusUpgradeRequired)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take the connection over", http.StatusInternalServerError)
		return
	}
	if !n.leaderStreams.add(conn) {
		conn.Close() // shutting down
		return
	}
	defer n.leaderStreams.remove(conn)
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // the server's read and write timeouts do not apply
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProto + "\r\n\r\n")
	if err := rw.Flush(); err != nil {
		return
	}
	n.log.Debug("forwarding stream opened", "from", r.Header.Get(headerFrom), "remote", conn.RemoteAddr().String())

	// Writes in flight when the stream ends still commit or fail; their
	// outcome cannot reach the follower, which has called it unknown.
	// Node.Close closes the connection.
	done := make(chan struct{})
	out := &resultQueue{wake: make(chan struct{}, 1)}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer conn.Close() // ends the reader too
		bw := bufio.NewWriterSize(conn, 32<<10)
		enc := newFrameEncoder(bw)
		for {
			select {
			case <-out.wake:
			case <-done:
				return
			}
			for _, res := range out.takeAll() {
				if err := enc.Encode(&res); err != nil {
					return
				}
			}
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}()

	frames := &frameReader{r: rw.Reader}
	dec := msgpack.NewDecoder(frames)
	for {
		frames.left = maxFrameBytes
		var req streamRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, errFrameTooLarge) {
				n.log.Warn("forwarding stream closed: frame too large", "from", r.Header.Get(headerFrom), "limit", maxFrameBytes)
			}
			break
		}
		n.proposeForwarded(req, out)
	}
	close(done)
	<-writerDone
}

// proposeForwarded proposes one forwarded write; its outcome goes to out
// when its entry commits. There is no goroutine per write: the proposer
// delivers from the goroutine that waited for the entry.
func (n *Node) proposeForwarded(req streamRequest, out *resultQueue) {
	answer := func(res objects.TxnResult, index uint64, err error) {
		out.push(streamResult{ID: req.ID, R: resultOf(res, index, err)})
	}
	w := req.W
	if n.cfg.bug(BugAckBeforeCommit) {
		answer(n.writeLocal(context.Background(), w.Object, w.Txn, w.IdemKey))
		return
	}
	cmd, err := n.txnCommand(w.Object, w.Txn, w.IdemKey)
	if err != nil {
		answer(objects.TxnResult{}, 0, err)
		return
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		answer(objects.TxnResult{}, 0, fmt.Errorf("%w: encode command: %v", ErrNotApplied, err))
		return
	}
	p := &proposal{data: data, deliver: func(r proposed) { answer(txnOutcome(r)) }}
	if err := n.prop.submit(p); err != nil {
		answer(objects.TxnResult{}, 0, err)
	}
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

// resultQueue is what a stream owes its follower; push never blocks.
type resultQueue struct {
	mu   sync.Mutex
	res  []streamResult
	wake chan struct{} // buffered 1
}

func (q *resultQueue) push(r streamResult) {
	q.mu.Lock()
	q.res = append(q.res, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *resultQueue) takeAll() []streamResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.res
	q.res = nil
	return r
}

// connSet is the leader's open forwarding streams, closed when the node
// shuts down: the HTTP server forgets a connection once it is taken over.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

var errShuttingDown = errors.New("node is shutting down")

// streams is the follower's side: the stream to the current leader, and
// those to former leaders that still owe answers.
type streams struct {
	n *Node

	dialMu sync.Mutex // one dial at a time; the others wait for its stream
	mu     sync.Mutex // guards cur, old and closed
	cur    *stream
	old    map[*stream]struct{}
	closed bool
}

// write queues w on the stream to the leader, opening one if needed, and
// waits for its outcome. Failures are results too: fwdNotApplied when the
// leader cannot have seen the write, fwdUnknown once it may have.
func (ss *streams) write(ctx context.Context, leaderID, leaderHTTP string, w forwardedWrite) forwardedResult {
	s, err := ss.get(ctx, leaderID, leaderHTTP)
	if err != nil {
		return resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: forwarding to the leader: %v", ErrNotApplied, err))
	}
	p := &pendingWrite{w: w, done: make(chan forwardedResult, 1)}
	if err := s.enqueue(p); err != nil {
		return resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: forwarding to the leader: %v", ErrNotApplied, err))
	}
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		if s.forget(p) {
			return resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: %v", ErrNotApplied, ctx.Err()))
		}
		return resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err()))
	}
}

// get returns the open stream to leaderHTTP, dialing one if there is
// none; the stream to a former leader is retired: it closes once it owes
// no answer.
func (ss *streams) get(ctx context.Context, leaderID, leaderHTTP string) (*stream, error) {
	if s := ss.current(leaderHTTP); s != nil {
		return s, nil
	}
	ss.dialMu.Lock()
	defer ss.dialMu.Unlock()
	if s := ss.current(leaderHTTP); s != nil {
		return s, nil
	}
	s, err := dialStream(ctx, ss, ss.n.cfg.ID, leaderID, leaderHTTP)
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
		prev.retire(ss.n.cfg.ApplyTimeout + time.Second)
	}
	return s, nil
}

// current is the open stream to leaderHTTP, or nil.
func (ss *streams) current(leaderHTTP string) *stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.cur; s != nil && s.addr == leaderHTTP && !s.broken() {
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

// pendingWrite is a forwarded write waiting for its outcome.
type pendingWrite struct {
	w    forwardedWrite
	id   uint64
	done chan forwardedResult // buffered: it gets exactly one result
}

// stream is one forwarding connection to a leader.
type stream struct {
	ss       *streams
	leaderID string
	addr     string
	conn     net.Conn

	wake chan struct{} // buffered 1: the queue has writes

	mu      sync.Mutex // guards the fields below
	queue   []*pendingWrite
	pending map[uint64]*pendingWrite // sent, not answered
	nextID  uint64
	err     error // set once the stream has failed or closed
	retired bool
}

// dialStream connects to the leader's HTTP address and upgrades the
// connection. Nothing is sent on it yet, so any failure here means no
// write reached the leader.
func dialStream(ctx context.Context, ss *streams, from, leaderID, leaderHTTP string) (*stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	d := net.Dialer{KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", leaderHTTP)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+leaderHTTP+pathStream, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", streamProto)
	req.Header.Set(headerFrom, from)
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
		return nil, fmt.Errorf("leader answered the upgrade with %s", resp.Status)
	}
	conn.SetDeadline(time.Time{})
	s := &stream{ss: ss, leaderID: leaderID, addr: leaderHTTP, conn: conn,
		wake: make(chan struct{}, 1), pending: map[uint64]*pendingWrite{}}
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
func (s *stream) enqueue(p *pendingWrite) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.queue = append(s.queue, p)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	return nil
}

// forget drops p, whose caller gave up. It reports whether p was still
// queued, so never sent.
func (s *stream) forget(p *pendingWrite) (unsent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.queue, p); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
		return true
	}
	delete(s.pending, p.id)
	return false
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
			if err := enc.Encode(&streamRequest{ID: p.id, W: p.w}); err != nil {
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
		var res streamResult
		if err := dec.Decode(&res); err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		p := s.pending[res.ID]
		delete(s.pending, res.ID)
		drained := s.drained()
		s.mu.Unlock()
		if p != nil {
			p.done <- res.R
		}
		if drained {
			s.fail(errRetired)
			return
		}
	}
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
	s.pending, s.queue = nil, nil
	close(s.wake) // under mu: enqueue sends on it only while err is nil
	s.mu.Unlock()
	s.conn.Close()
	s.ss.ended(s)
	for _, p := range sent {
		p.done <- resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: forwarding stream to the leader: %v", ErrOutcomeUnknown, cause))
	}
	for _, p := range queued {
		p.done <- resultOf(objects.TxnResult{}, 0, fmt.Errorf("%w: forwarding stream to the leader: %v", ErrNotApplied, cause))
	}
}
