package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The forwarding stream's leader side. See wire.go for the protocol.

// serveStream is the leader's side: it takes the connection over, reads
// writes and proposes each as it arrives (the proposer puts those that
// arrive together in one entry), and writes back the outcomes as entries
// commit, all those of one entry in one flush. On a /2 stream it also
// runs class calls, each in its own goroutine (stream_calls.go).
func (n *Node) serveStream(w http.ResponseWriter, r *http.Request) {
	proto, ok := n.streamProtoAsked(r.Header.Get("Upgrade"))
	if !ok {
		offered := n.streamProtosServed()
		w.Header().Set("Upgrade", strings.Join(offered, ", "))
		http.Error(w, "this route speaks "+strings.Join(offered, " or "), http.StatusUpgradeRequired)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take the connection over", http.StatusInternalServerError)
		return
	}
	if !n.peer.streams.add(conn) {
		conn.Close() // shutting down
		return
	}
	defer n.peer.streams.remove(conn)
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // the server's read and write timeouts do not apply
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
	if err := rw.Flush(); err != nil {
		return
	}
	n.log.Debug("forwarding stream opened", "from", r.Header.Get(headerFrom), "remote", conn.RemoteAddr().String(), "proto", proto)

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
				if err := writeStreamResult(enc, proto, &res); err != nil {
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
	calls := newStreamCalls(writerDone)
	for {
		frames.left = maxFrameBytes
		req, err := readStreamRequest(dec, proto)
		if err != nil {
			if errors.Is(err, errFrameTooLarge) {
				n.log.Warn("forwarding stream closed: frame too large", "from", r.Header.Get(headerFrom), "limit", maxFrameBytes)
			} else if errors.Is(err, errBadFrame) {
				n.log.Warn("forwarding stream closed", "from", r.Header.Get(headerFrom), "err", err)
			}
			break
		}
		if req.C != nil {
			if !n.startStreamCall(calls, req.ID, *req.C, out) {
				break // the writer has stopped: so has the stream
			}
			continue
		}
		n.proposeForwarded(streamRequest{ID: req.ID, W: *req.W}, out)
	}
	close(done)
	<-writerDone
}

var errBadFrame = errors.New("malformed forwarding frame")

// readStreamRequest decodes the next request in the frames of the stream's
// version, as a streamRequestV2 with exactly one of W and C set.
//
// It takes the frame's bytes first, walking the value (DecodeRaw skips
// it), and decodes them after: msgpack v5.4.1 sizes a slice by the length
// its header declares before it reads an element, so a frame of a few
// bytes declaring a billion ops would take the leader's memory (see
// fsm.WellFormed); the walk stops at the frame's limit instead.
func readStreamRequest(dec *msgpack.Decoder, proto string) (streamRequestV2, error) {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return streamRequestV2{}, err
	}
	if proto == streamProto {
		var req streamRequest
		if err := msgpack.Unmarshal(raw, &req); err != nil {
			return streamRequestV2{}, fmt.Errorf("%w: %w", errBadFrame, err)
		}
		return streamRequestV2{ID: req.ID, W: &req.W}, nil
	}
	var req streamRequestV2
	if err := msgpack.Unmarshal(raw, &req); err != nil {
		return streamRequestV2{}, fmt.Errorf("%w: %w", errBadFrame, err)
	}
	if (req.W == nil) == (req.C == nil) {
		return streamRequestV2{}, fmt.Errorf("%w: request %d carries neither or both of a write and a call", errBadFrame, req.ID)
	}
	return req, nil
}

// writeStreamResult encodes res in the frames of the stream's version; a
// /1 stream carries only writes, so only R.
func writeStreamResult(enc *msgpack.Encoder, proto string, res *streamResultV2) error {
	if proto == streamProto {
		return enc.Encode(&streamResult{ID: res.ID, R: *res.R})
	}
	return enc.Encode(res)
}

// streamProtoAsked picks the stream version a follower asked for, if this
// node serves it.
func (n *Node) streamProtoAsked(upgrade string) (string, bool) {
	for _, p := range n.streamProtosServed() {
		if strings.EqualFold(upgrade, p) {
			return p, true
		}
	}
	return "", false
}

// streamProtosServed lists the stream versions this node serves, newest
// first; the test hook refuseStreamV2 makes it a build before /2.
func (n *Node) streamProtosServed() []string {
	if n.peer.refuseStreamV2.Load() {
		return []string{streamProto}
	}
	return []string{streamProtoV2, streamProto}
}

// proposeForwarded proposes one forwarded write; its outcome goes to out
// when its entry commits. There is no goroutine per write: the proposer
// delivers from the goroutine that waited for the entry.
func (n *Node) proposeForwarded(req streamRequest, out *resultQueue) {
	answer := func(res objects.TxnResult, index uint64, err error) {
		r := resultOf(res, index, err)
		out.push(streamResultV2{ID: req.ID, R: &r})
	}
	w := req.W
	if n.cfg.bug(BugAckBeforeCommit) {
		answer(n.writeLocal(context.Background(), w.Object, w.Txn.txn(), w.IdemKey))
		return
	}
	cmd, err := n.txnCommand(w.Object, w.Txn.txn(), w.IdemKey)
	if err != nil {
		answer(objects.TxnResult{}, 0, err)
		return
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		answer(objects.TxnResult{}, 0, fmt.Errorf("%w: encode command: %w", ErrNotApplied, err))
		return
	}
	p := &proposal{data: data, deliver: func(r proposed) { answer(txnOutcome(r)) }}
	if err := n.prop.submit(p); err != nil {
		answer(objects.TxnResult{}, 0, err)
	}
}

// resultQueue is what a stream owes its follower; push never blocks.
type resultQueue struct {
	mu   sync.Mutex
	res  []streamResultV2 // R for a write, C for a call
	wake chan struct{}    // buffered 1
}

func (q *resultQueue) push(r streamResultV2) {
	q.mu.Lock()
	q.res = append(q.res, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *resultQueue) takeAll() []streamResultV2 {
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
