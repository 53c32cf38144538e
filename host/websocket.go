package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
)

// WebSockets of class objects. An object lives on the leader, so its
// sockets do too: the leader runs fetch of the upgrade request
// (classes.Engine.Connect), completes the handshake when fetch answered
// 101, and from then on reads the socket's messages and runs the
// object's webSocketMessage and webSocketClose through the engine, each
// handler's writes one Raft command committed before its sends go out. A
// follower relays a client's socket to the leader (websocket_relay.go).
// When the leader steps down or stops, it closes every socket with 1012
// (service restart): the client reconnects, through any node, to the
// new leader.

// Close codes the host sends.
const (
	closeRestart  = 1012 // the leader changed or the node stops: reconnect
	closeInternal = 1011 // the object cannot go on (its class was removed)
	closePolicy   = 1008 // the client reads too slowly
)

// socketQueue and socketQueueBytes bound the messages waiting to be
// written to one socket; a client that lets more pile up is closed
// (closePolicy). The queue grows as messages wait, and not before.
const (
	socketQueue      = 4096
	socketQueueBytes = 16 << 20
)

// socketWriteTimeout bounds writing one message to a client.
const socketWriteTimeout = 10 * time.Second

// socketFrame is one message queued for a socket.
type socketFrame struct {
	binary bool
	data   []byte
}

// serverSocket is classes.Socket over a client's connection on the
// leader (the client's own, or a follower's relay). Send and Close queue;
// a writer goroutine writes, in order, once the handshake is done.
type serverSocket struct {
	wake      chan struct{} // buffered 1: out has frames
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	code      int
	reason    string

	// mu guards out and queued (the bytes of out and of the frame
	// being written).
	mu     sync.Mutex
	out    []socketFrame
	queued int
}

var _ classes.Socket = (*serverSocket)(nil)

func newServerSocket() *serverSocket {
	return &serverSocket{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *serverSocket) Send(binary bool, data []byte) {
	select {
	case <-s.done:
		return
	default:
	}
	s.mu.Lock()
	if len(s.out) >= socketQueue || s.queued+len(data) > socketQueueBytes {
		s.mu.Unlock()
		s.Close(closePolicy, "the client reads too slowly")
		return
	}
	s.out = append(s.out, socketFrame{binary: binary, data: data})
	s.queued += len(data)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *serverSocket) Close(code int, reason string) {
	s.closeOnce.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
}

// take returns the queued frames, leaving the queue empty (and its
// memory to the collector).
func (s *serverSocket) take() []socketFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.out
	s.out = nil
	return out
}

// write writes the queued messages to c until Close, then what was
// queued before Close, then closes c with Close's code.
func (s *serverSocket) write(c *websocket.Conn) {
	send := func(frames []socketFrame) bool {
		for _, f := range frames {
			typ := websocket.MessageText
			if f.binary {
				typ = websocket.MessageBinary
			}
			ctx, cancel := context.WithTimeout(context.Background(), socketWriteTimeout)
			err := c.Write(ctx, typ, f.data)
			cancel()
			s.mu.Lock()
			s.queued -= len(f.data)
			s.mu.Unlock()
			if err != nil {
				c.CloseNow()
				return false
			}
		}
		return true
	}
	for {
		select {
		case <-s.wake:
			if !send(s.take()) {
				return
			}
		case <-s.done:
			if send(s.take()) {
				c.Close(websocket.StatusCode(s.code), s.reason)
			}
			return
		}
	}
}

// socketCount is the sockets whose clients a node serves — its own
// objects', those it relays to the leader, and, on the leader, those
// followers relay to it — bounded by Config.MaxSockets: each costs
// goroutines and buffers.
type socketCount struct {
	open atomic.Int64
}

// take reserves a place for a socket, or reports that there is none.
func (c *socketCount) take(max int) bool {
	if c.open.Add(1) > int64(max) {
		c.open.Add(-1)
		return false
	}
	return true
}

func (c *socketCount) give() { c.open.Add(-1) }

// openSocket reserves a place for a socket, public when the client is
// this node's (the gauge counts those); done gives it back.
func (h *Host) openSocket(public bool) (done func(), err error) {
	if !h.sockets.take(h.cfg.MaxSockets) {
		return nil, fmt.Errorf("%w: this node serves %d WebSockets, its most", cluster.ErrNotApplied, h.cfg.MaxSockets)
	}
	if public {
		h.cfg.Metrics.SocketOpened()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.sockets.give()
			if public {
				h.cfg.Metrics.SocketClosed()
			}
		})
	}, nil
}

// connect runs fetch of an upgrade request on the leader. When fetch
// accepted a WebSocket it completes the handshake on w (public: with the
// browser's same-origin check; a follower's relay is not a browser) and
// returns nil, nil: the socket is served in the background. Otherwise it
// returns the call's answer, as call does, and w is untouched.
func (h *Host) connect(w http.ResponseWriter, r *http.Request, class string, id classes.StubID, req *classes.Request, public bool) (*CallResult, error) {
	name := id.ID
	done, err := h.openSocket(public)
	if err != nil {
		return nil, err
	}
	served := false
	defer func() {
		if !served {
			done()
		}
	}()
	sock := newServerSocket()
	var resp *classes.Response
	var sid classes.SocketID
	run, err := h.onLeader(context.WithoutCancel(r.Context()), class, name, runOpts{idName: id.Name}, func(run *run) error {
		var err error
		resp, sid, err = h.engine.Connect(run.ctx, run.ref, name, req, run.state, sock, run.commit)
		return err
	})
	if err != nil {
		return nil, err
	}
	if sid == 0 {
		return &CallResult{Response: resp, Index: run.applied.Index}, nil
	}
	s := socket{class: class, name: name, id: sid, term: run.term}
	// The server's read and write timeouts are for requests, not for a
	// connection that lasts.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: !public, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		// Accept answered the client; the object learns the socket is gone.
		h.log.Debug("websocket handshake failed", "class", class, "object", name, "err", err)
		sock.Close(closeInternal, "handshake failed")
		h.socketClosed(s, 1006, "", false)
		return nil, nil
	}
	c.SetReadLimit(int64(h.cfg.MaxResponseBytes))
	served = true
	go sock.write(c)
	go func() {
		defer done()
		h.readSocket(c, sock, s)
	}()
	return nil, nil
}

// socket names one socket of an object, accepted in term.
type socket struct {
	class, name string
	id          classes.SocketID
	term        uint64
}

// readSocket hands the socket's messages to the object, one at a time,
// until the connection ends.
func (h *Host) readSocket(c *websocket.Conn, sock *serverSocket, s socket) {
	defer c.CloseNow()
	// Whatever happened to webSocketClose, the socket is gone.
	defer h.engine.DropSocket(s.class, s.name, s.id)
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			code, reason, clean := 1006, "", false
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason, clean = int(ce.Code), ce.Reason, true
			}
			sock.Close(1000, "")
			h.socketClosed(s, code, reason, clean)
			return
		}
		_, err = h.onLeader(context.Background(), s.class, s.name, runOpts{term: s.term}, func(r *run) error {
			return h.engine.SocketMessage(r.ctx, r.ref, s.name, s.id, typ == websocket.MessageBinary, data, r.state, r.commitEffects)
		})
		if err != nil {
			if code, ok := socketFatal(err); ok {
				sock.Close(code, err.Error()[:min(len(err.Error()), 120)])
			} else {
				h.log.Warn("webSocketMessage failed", "class", s.class, "object", s.name, "err", err)
			}
		}
	}
}

// socketFatal says whether a handler's error ends the socket, and with
// which code: the node is no longer the leader (or is again, in a later
// term), or the class is gone. The class's own exceptions do not.
func socketFatal(err error) (int, bool) {
	var ce *CallError
	switch {
	case errors.Is(err, ErrClassNotFound):
		return closeInternal, true
	case errors.As(err, &ce):
		return 0, false
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNotApplied), errors.Is(err, cluster.ErrOutcomeUnknown):
		return closeRestart, true
	}
	return closeInternal, true
}

// socketClosed runs webSocketClose for socket s, which the client
// closed; a node that is no longer the leader, or leads in a later term,
// runs nothing (its sockets were closed with 1012 and forgotten).
func (h *Host) socketClosed(s socket, code int, reason string, clean bool) {
	_, err := h.onLeader(context.Background(), s.class, s.name, runOpts{term: s.term}, func(r *run) error {
		return h.engine.SocketClosed(r.ctx, r.ref, s.name, s.id, code, reason, clean, r.state, r.commitEffects)
	})
	if err != nil && !errors.Is(err, cluster.ErrNotLeader) && !errors.Is(err, errStaleTerm) {
		h.log.Warn("webSocketClose failed", "class", s.class, "object", s.name, "err", err)
	}
}

// closeSockets closes every socket this node serves or relays, on
// shutdown.
func (h *Host) closeSockets() {
	h.engine.CloseSockets(closeRestart, "the node is stopping; reconnect")
	h.relays.closeAll(closeRestart, "the node is stopping; reconnect")
	h.workers.mu.Lock()
	defer h.workers.mu.Unlock()
	for _, w := range h.workers.m {
		w.w.CloseSockets(closeRestart, "the node is stopping; reconnect")
	}
	for _, w := range h.workers.serving {
		w.CloseSockets(closeRestart, "the node is stopping; reconnect")
	}
}

// ServeWebSocket serves an upgrade request to object id of class (a
// /_classes object's id is its name; a script object's may come with the
// name it was made from, as for CallStub):
// fetch runs on the leader (through the leader's peer service when this
// node is a follower, which then relays the socket). When fetch accepted
// a WebSocket the handshake is done on w, the socket is served in the
// background, and ServeWebSocket returns nil, nil. Otherwise it returns
// fetch's answer or an error, as Call does, and w is untouched.
func (h *Host) ServeWebSocket(w http.ResponseWriter, r *http.Request, class string, id classes.StubID, req *classes.Request) (*CallResult, error) {
	if h.node.IsLeader() {
		return h.connect(w, r, class, id, req, true)
	}
	return h.relay(w, r, class, id, req)
}
