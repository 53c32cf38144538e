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
	if !n.peer.streams.add(conn) {
		conn.Close() // shutting down
		return
	}
	defer n.peer.streams.remove(conn)
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
