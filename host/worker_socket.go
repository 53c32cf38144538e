package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/classes"
)

// ServeWorkerSocket serves the socket that script's Worker answered a
// client's upgrade with (classes.WithUpgrade).
//
// An object's socket (u.Socket unset): the object's fetch runs on the
// leader with u's request and, when it accepts a WebSocket, the client's
// connection on w is joined to it as ServeWebSocket joins a /do/
// client's — relayed from a follower, counted in the node's socket cap.
//
// The Worker's own (u.Socket): the handshake is done here, on the node
// that ran the Worker, and the socket's messages run its listeners here
// too, with no trip to the leader; counted in the node's socket cap.
//
// It returns as ServeWebSocket does: nil, nil once the socket is served,
// or the object's answer when it did not accept one.
func (h *Host) ServeWorkerSocket(w http.ResponseWriter, r *http.Request, script string, u *classes.Upgrade) (*CallResult, error) {
	if u.Socket != nil {
		return nil, h.serveOwnSocket(w, r, script, u.Socket)
	}
	sc, ok := h.node.FSM().Script(script)
	if !ok {
		return nil, fmt.Errorf("%w: no script %s", ErrClassNotFound, script)
	}
	_, _, out := h.scriptBindings(&sc)
	key, err := out.key(u.Binding)
	if err != nil {
		return nil, err
	}
	return h.ServeWebSocket(w, r, key, u.ID, u.Request)
}

// serveOwnSocket completes the handshake of a Worker's own socket on w
// and serves it in the background. Over the node's socket cap it answers
// an error (not applied) and drops the socket.
func (h *Host) serveOwnSocket(w http.ResponseWriter, r *http.Request, script string, ws *classes.WorkerSocket) error {
	done, err := h.openSocket(true)
	if err != nil {
		ws.Drop()
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		// Accept answered the client.
		h.log.Debug("websocket handshake failed", "script", script, "err", err)
		ws.Drop()
		done()
		return nil
	}
	c.SetReadLimit(int64(h.cfg.MaxResponseBytes))
	sock := newServerSocket()
	ws.Attach(sock)
	go sock.write(c)
	go func() {
		defer done()
		h.readOwnSocket(c, sock, script, ws)
	}()
	return nil
}

// readOwnSocket hands a Worker's socket its messages, one at a time,
// until the connection ends; each runs for at most the call timeout.
func (h *Host) readOwnSocket(c *websocket.Conn, sock *serverSocket, script string, ws *classes.WorkerSocket) {
	defer c.CloseNow()
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			code, reason, clean := 1006, "", false
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason, clean = int(ce.Code), ce.Reason, true
			}
			sock.Close(1000, "")
			ctx, cancel := context.WithTimeout(context.Background(), h.callTimeout())
			if err := ws.Closed(ctx, code, reason, clean); err != nil {
				h.log.Warn("a Worker's WebSocket close listener failed", "script", script, "err", err)
			}
			cancel()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.callTimeout())
		err = ws.Message(ctx, typ == websocket.MessageBinary, data)
		cancel()
		if err != nil {
			h.log.Warn("a Worker's WebSocket message listener failed", "script", script, "err", err)
		}
	}
}
