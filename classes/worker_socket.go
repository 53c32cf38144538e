package classes

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/dop251/goja"
)

// A Worker's own WebSockets: a Worker (not an object) may answer a
// client's upgrade with new Response(null, {status: 101, webSocket:
// client}) of a WebSocketPair whose server end it accepted with
// server.accept(), and serve the socket itself through the server end's
// event listeners, as Cloudflare's Worker WebSocket examples do. The
// socket lives on the node that received the request, in the runtime
// that answered it (the listeners are that runtime's objects): its
// messages run the listeners there, one at a time, each as a request of
// its own (the CPU and memory limits, timers, stubs), with no storage
// and no gate; what a listener sends goes out when it has run.
//
// The Worker's caller learns of the socket from WithUpgrade's function
// (Upgrade.Socket), completes the handshake, and from then on hands the
// socket its messages and its end (WorkerSocket). A socket accepted in
// a request that did not answer with it, or accepted by a socket's
// listener or an RPC, is dropped when that request ends.

// workerSocketKey is the one key of a Worker's socket registry.
var workerSocketKey = slotKey{class: "worker"}

// WorkerSocket is a WebSocket a Worker answered a client's upgrade with.
type WorkerSocket struct {
	w    *Worker
	wv   *workerVM
	id   SocketID
	late *lateSocket
}

// Attach gives the socket its connection once the handshake is done:
// what the Worker sent before goes out first.
func (s *WorkerSocket) Attach(conn Socket) { s.late.attach(conn) }

// Message runs the server end's "message" listeners with a message the
// client sent: a string, or an ArrayBuffer when binary. A throw is a
// *ScriptError; the socket stays open. A socket that was closed runs
// nothing.
func (s *WorkerSocket) Message(ctx context.Context, binary bool, data []byte) error {
	if s.w.sockets.find(workerSocketKey, s.id) == nil {
		return nil
	}
	return s.onRuntime(ctx, func(in *instance) error {
		rt := in.vm.rt
		msg := rt.ToValue(string(data))
		if binary {
			msg = rt.ToValue(rt.NewArrayBuffer(slices.Clone(data)))
		}
		return in.dispatchSocket(s.id, "message", msg)
	})
}

// Closed unregisters the socket, which the client closed (code 1006 and
// wasClean false when the connection ended without a close frame), and
// runs its "error" (unclean) and "close" listeners. A socket the Worker
// closed itself runs nothing.
func (s *WorkerSocket) Closed(ctx context.Context, code int, reason string, wasClean bool) error {
	if s.w.sockets.remove(workerSocketKey, s.id) == nil {
		return nil
	}
	return s.onRuntime(ctx, func(in *instance) error {
		rt := in.vm.rt
		if !wasClean {
			if err := in.dispatchSocket(s.id, "error", rt.ToValue("the connection ended without a close frame")); err != nil {
				return err
			}
		}
		return in.dispatchSocket(s.id, "close", rt.ToValue(code), rt.ToValue(reason), rt.ToValue(wasClean))
	})
}

// Drop forgets the socket without running a listener: its handshake
// failed.
func (s *WorkerSocket) Drop() {
	s.w.sockets.remove(workerSocketKey, s.id)
	s.late.Close(1011, "the handshake failed")
}

// CloseSockets closes every socket the Worker serves with code and
// reason, running no listener (the node stops).
func (w *Worker) CloseSockets(code int, reason string) int {
	all := w.sockets.takeAll()
	for _, e := range all {
		e.sock.Close(code, reason)
	}
	return len(all)
}

// Sockets is the number of sockets the Worker serves.
func (w *Worker) Sockets() int { return w.sockets.count() }

// dispatchSocket dispatches an event to the socket's listeners in the
// runtime of the call and settles what they started.
func (in *instance) dispatchSocket(id SocketID, typ string, args ...goja.Value) error {
	vm := in.vm
	v, err := in.run(func() (goja.Value, error) {
		return vm.ws.dispatch(goja.Undefined(), append([]goja.Value{vm.rt.ToValue(int64(id)), vm.rt.ToValue(typ)}, args...)...)
	})
	if err != nil {
		return err
	}
	_, err = in.settle(v, "the WebSocket's "+typ+" listeners")
	return err
}

// onRuntime runs body as a request on the runtime that holds the
// socket's listeners. A runtime retired since (over the memory limit)
// has lost them: the socket is closed with 1011.
func (s *WorkerSocket) onRuntime(ctx context.Context, body func(in *instance) error) error {
	w, wv := s.w, s.wv
	if wv.vm.retired.Load() {
		if e := w.sockets.remove(workerSocketKey, s.id); e != nil {
			e.sock.Close(1011, "the Worker's runtime was reset")
		}
		return nil
	}
	return w.callOn(ctx, wv, body)
}

// releaseSockets ends a Worker call's use of WebSockets: the pair the
// Worker answered with (sc.upgrade; 0: none), accepted, is registered
// with a connection still to come; other pairs the call accepted are
// not; what the call sent goes out (to that connection once it is
// there).
func (w *Worker) releaseSockets(sc *socketCall) {
	for _, e := range sc.accepted {
		if e.id == sc.upgrade && sc.upgrade != 0 {
			e.sock = &lateSocket{}
			w.sockets.add(workerSocketKey, e)
		}
	}
	sc.accepted = nil
	sc.release()
}

// answerSocket is what the Worker's answer v means for a WebSocket: the
// pair id of a 101 Response with a WebSocketPair's client (0 for any
// other answer). Such an answer is taken only for a client's upgrade
// (WithUpgrade) and only when its server end was accepted.
func (w *Worker) answerSocket(ctx context.Context, in *instance, v goja.Value) (SocketID, error) {
	var pair int64
	if _, err := in.run(func() (goja.Value, error) {
		p, err := in.vm.ws.upgradeOf(goja.Undefined(), v)
		if err == nil {
			pair = p.ToInteger()
		}
		return nil, err
	}); err != nil || pair <= 0 {
		return 0, err
	}
	id := SocketID(pair)
	fail := func(msg string) error {
		return &ScriptError{Name: "TypeError", Message: "TypeError: " + msg, Err: errors.New(msg)}
	}
	if s, _ := ctx.Value(upgradeKey{}).(*upgradeSlot); s == nil {
		return 0, fail("a Response with a webSocket answers only a client's WebSocket upgrade request")
	}
	if !slices.ContainsFunc(in.call.ws.accepted, func(e *socketEntry) bool { return e.id == id && e.listening }) {
		return 0, fail("the server end of the WebSocketPair was not accepted with server.accept()")
	}
	return id, nil
}

// chooseSocket tells the Worker's caller that it answered with socket
// id, served on wv.
func (w *Worker) chooseSocket(ctx context.Context, wv *workerVM, id SocketID) {
	s, _ := ctx.Value(upgradeKey{}).(*upgradeSlot)
	e := w.sockets.find(workerSocketKey, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chosen = &Upgrade{Socket: &WorkerSocket{w: w, wv: wv, id: id, late: e.sock.(*lateSocket)}}
}

// lateSocket is the Socket of a Worker's socket before its handshake:
// it holds what is sent until attach gives it the connection.
type lateSocket struct {
	mu   sync.Mutex
	conn Socket
	held []socketOp
}

var _ Socket = (*lateSocket)(nil)

func (l *lateSocket) Send(binary bool, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		l.held = append(l.held, socketOp{binary: binary, data: data})
		return
	}
	l.conn.Send(binary, data)
}

func (l *lateSocket) Close(code int, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		l.held = append(l.held, socketOp{close: true, code: code, reason: reason})
		return
	}
	l.conn.Close(code, reason)
}

// attach sends what was held to conn, and from then on all.
func (l *lateSocket) attach(conn Socket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, op := range l.held {
		if op.close {
			conn.Close(op.code, op.reason)
		} else {
			conn.Send(op.binary, op.data)
		}
	}
	l.held, l.conn = nil, conn
}
