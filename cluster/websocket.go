package cluster

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
	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
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

// Close codes the cluster sends.
const (
	closeRestart  = 1012 // the leader changed or the node stops: reconnect
	closeInternal = 1011 // the object cannot go on (its class was removed)
	closePolicy   = 1008 // the client reads too slowly
)

// socketQueue and socketQueueBytes bound the messages waiting to be
// written to one socket; a client that lets more pile up is closed
// (closePolicy).
const (
	socketQueue      = 4096
	socketQueueBytes = 16 << 20
)

// maxClientSockets bounds the WebSockets whose clients one node serves
// (its own objects' and those it relays): each costs goroutines and
// buffers. Past it an upgrade is refused, not applied.
const maxClientSockets = 10_000

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
	out       chan socketFrame
	queued    atomic.Int64  // bytes in out
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	code      int
	reason    string
}

var _ classes.Socket = (*serverSocket)(nil)

func newServerSocket() *serverSocket {
	return &serverSocket{out: make(chan socketFrame, socketQueue), done: make(chan struct{})}
}

func (s *serverSocket) Send(binary bool, data []byte) {
	select {
	case <-s.done:
		return
	default:
	}
	if s.queued.Add(int64(len(data))) > socketQueueBytes {
		s.queued.Add(-int64(len(data)))
		s.Close(closePolicy, "the client reads too slowly")
		return
	}
	select {
	case s.out <- socketFrame{binary: binary, data: data}:
	default:
		s.queued.Add(-int64(len(data)))
		s.Close(closePolicy, "the client reads too slowly")
	}
}

func (s *serverSocket) Close(code int, reason string) {
	s.closeOnce.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
}

// write writes the queued messages to c until Close, then what was
// queued before Close, then closes c with Close's code.
func (s *serverSocket) write(c *websocket.Conn) {
	send := func(f socketFrame) bool {
		typ := websocket.MessageText
		if f.binary {
			typ = websocket.MessageBinary
		}
		ctx, cancel := context.WithTimeout(context.Background(), socketWriteTimeout)
		defer cancel()
		defer s.queued.Add(-int64(len(f.data)))
		if err := c.Write(ctx, typ, f.data); err != nil {
			c.CloseNow()
			return false
		}
		return true
	}
	for {
		select {
		case f := <-s.out:
			if !send(f) {
				return
			}
		case <-s.done:
			for {
				select {
				case f := <-s.out:
					if !send(f) {
						return
					}
				default:
					c.Close(websocket.StatusCode(s.code), s.reason)
					return
				}
			}
		}
	}
}

// callTimeout bounds one call run for another party (a forwarded call, a
// socket's handler): its JavaScript up to the CPU limit, then its commit.
func (h *classHost) callTimeout() time.Duration { return h.cfg.CPULimit + 2*h.n.cfg.ApplyTimeout }

// connect runs fetch of an upgrade request on the leader. When fetch
// accepted a WebSocket it completes the handshake on w (public: with the
// browser's same-origin check; a follower's relay is not a browser) and
// returns nil, nil: the socket is served in the background. Otherwise it
// returns the call's answer, as call does, and w is untouched.
func (h *classHost) connect(w http.ResponseWriter, r *http.Request, class, name string, req *classes.Request, public bool) (*CallResult, error) {
	n := h.n
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.callTimeout())
	defer cancel()
	if err := n.readBarrier(ctx); err != nil {
		return nil, readError(err)
	}
	ref, err := h.ref(class)
	if err != nil {
		return nil, err
	}
	object := fsm.ClassObject(class, name)
	var (
		applied   *fsm.CallResult
		commitErr error
	)
	commit := func(eff classes.Effects, resp *classes.Response) error {
		applied, commitErr = h.commit(ctx, object, eff, resp, "", nil, 0)
		return commitErr
	}
	sock := newServerSocket()
	resp, id, err := h.engine.Connect(ctx, ref, name, req, objectState{m: n.fsm, object: object}, sock, commit)
	if commitErr != nil {
		return nil, commitErr
	}
	if err != nil {
		return nil, h.callFailed(ctx, err)
	}
	if id == 0 {
		return &CallResult{Response: resp, Index: applied.Index}, nil
	}
	// The server's read and write timeouts are for requests, not for a
	// connection that lasts.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: !public, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		// Accept answered the client; the object learns the socket is gone.
		n.log.Debug("websocket handshake failed", "class", class, "object", name, "err", err)
		sock.Close(closeInternal, "handshake failed")
		h.socketClosed(class, name, id, 1006, "", false)
		return nil, nil
	}
	c.SetReadLimit(int64(h.cfg.MaxResponseBytes))
	if public {
		h.clientSocketOpened()
	}
	go sock.write(c)
	go func() {
		h.readSocket(c, sock, class, name, id)
		if public {
			h.clientSocketClosed()
		}
	}()
	return nil, nil
}

// readSocket hands the socket's messages to the object, one at a time,
// until the connection ends.
func (h *classHost) readSocket(c *websocket.Conn, sock *serverSocket, class, name string, id classes.SocketID) {
	defer c.CloseNow()
	// Whatever happened to webSocketClose, the socket is gone.
	defer h.engine.DropSocket(class, name, id)
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			code, reason, clean := 1006, "", false
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason, clean = int(ce.Code), ce.Reason, true
			}
			sock.Close(1000, "")
			h.socketClosed(class, name, id, code, reason, clean)
			return
		}
		if err := h.socketMessage(class, name, id, typ == websocket.MessageBinary, data); err != nil {
			if code, ok := socketFatal(err); ok {
				sock.Close(code, err.Error()[:min(len(err.Error()), 120)])
			} else {
				h.n.log.Warn("webSocketMessage failed", "class", class, "object", name, "err", err)
			}
		}
	}
}

// socketFatal says whether a handler's error ends the socket, and with
// which code: the node is no longer the leader, or the class is gone.
// The class's own exceptions do not.
func socketFatal(err error) (int, bool) {
	var ce *CallError
	switch {
	case errors.Is(err, ErrClassNotFound):
		return closeInternal, true
	case errors.As(err, &ce):
		return 0, false
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNotApplied), errors.Is(err, ErrOutcomeUnknown):
		return closeRestart, true
	}
	return closeInternal, true
}

// socketMessage runs webSocketMessage for one message of socket id.
func (h *classHost) socketMessage(class, name string, id classes.SocketID, binary bool, data []byte) error {
	return h.socketCall(class, name, func(ctx context.Context, ref classes.ClassRef, st objectState, commit func(classes.Effects) error) error {
		return h.engine.SocketMessage(ctx, ref, name, id, binary, data, st, commit)
	})
}

// socketClosed runs webSocketClose for socket id, which the client
// closed; a node that is no longer the leader runs nothing (its sockets
// were closed with 1012 and forgotten).
func (h *classHost) socketClosed(class, name string, id classes.SocketID, code int, reason string, clean bool) {
	err := h.socketCall(class, name, func(ctx context.Context, ref classes.ClassRef, st objectState, commit func(classes.Effects) error) error {
		return h.engine.SocketClosed(ctx, ref, name, id, code, reason, clean, st, commit)
	})
	if err != nil && !errors.Is(err, ErrNotLeader) {
		h.n.log.Warn("webSocketClose failed", "class", class, "object", name, "err", err)
	}
}

// socketCall runs one handler call on the leader, committing its effects
// as one command.
func (h *classHost) socketCall(class, name string, run func(context.Context, classes.ClassRef, objectState, func(classes.Effects) error) error) error {
	n := h.n
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.callTimeout())
	defer cancel()
	ref, err := h.ref(class)
	if err != nil {
		return err
	}
	object := fsm.ClassObject(class, name)
	var commitErr error
	commit := func(eff classes.Effects) error {
		_, commitErr = h.commit(ctx, object, eff, nil, "", nil, 0)
		return commitErr
	}
	err = run(ctx, ref, objectState{m: n.fsm, object: object}, commit)
	switch {
	case commitErr != nil:
		return commitErr
	case err != nil:
		return h.callFailed(ctx, err)
	}
	return nil
}

// clientSocketOpened and clientSocketClosed count the sockets whose
// clients this node serves, for maxClientSockets and the gauge.
func (h *classHost) clientSocketOpened() {
	h.relays.clients.Add(1)
	h.n.cfg.Metrics.SocketOpened()
}

func (h *classHost) clientSocketClosed() {
	h.relays.clients.Add(-1)
	h.n.cfg.Metrics.SocketClosed()
}

// socketsLeadership closes every socket when the node stops being the
// leader: their objects move to the new leader, where clients reconnect.
func (h *classHost) socketsLeadership(isLeader bool) {
	if isLeader {
		return
	}
	if n := h.engine.CloseSockets(closeRestart, "the leader changed; reconnect"); n > 0 {
		h.n.log.Info("closed the sockets of class objects after losing leadership", "sockets", n)
	}
}

// closeSockets closes every socket this node serves or relays, on
// shutdown.
func (h *classHost) closeSockets() {
	h.engine.CloseSockets(closeRestart, "the node is stopping; reconnect")
	h.relays.closeAll(closeRestart, "the node is stopping; reconnect")
}

// ServeWebSocket serves an upgrade request to object name of class:
// fetch runs on the leader (through the leader's peer service when this
// node is a follower, which then relays the socket). When fetch accepted
// a WebSocket the handshake is done on w, the socket is served in the
// background, and ServeWebSocket returns nil, nil. Otherwise it returns
// fetch's answer or an error, as Call does, and w is untouched.
func (n *Node) ServeWebSocket(w http.ResponseWriter, r *http.Request, class, name string, req *classes.Request) (*CallResult, error) {
	h := n.classHost()
	if open := h.relays.clients.Load(); open >= maxClientSockets {
		return nil, fmt.Errorf("%w: this node serves %d WebSockets, its most", ErrNotApplied, open)
	}
	if n.raft.State() == raft.Leader {
		return h.connect(w, r, class, name, req, true)
	}
	return h.relay(w, r, class, name, req)
}
