package classes

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/dop251/goja"
)

// WebSockets follow Cloudflare's hibernation API. A socket belongs to the
// engine, not to an object's instance: the registry below outlives
// instances, so an instance dropped after a failure, evicted, or rebuilt
// after a redeploy finds its object's sockets again through
// ctx.getWebSockets, and the handlers keep being called. The caller owns
// the connection itself (a Socket): it reads the client's messages and
// hands them to SocketMessage and SocketClosed, which run the class's
// webSocketMessage and webSocketClose through the object's input gate,
// like a fetch.
//
// The output gate covers sockets too: what a call sends (ws.send,
// ws.close) is held until the call's Effects are committed, then given
// to the sockets in the order the call made it; a call that fails sends
// nothing. A socket accepted in a call is registered only when that call
// commits.

//go:embed js/websocket.js
var websocketSource string

var websocketProgram = sync.OnceValues(func() (*goja.Program, error) {
	return goja.Compile("websocket.js", websocketSource, true)
})

// Socket is one accepted WebSocket connection; the caller implements it.
// Neither method may block: Send queues (a socket whose client reads too
// slowly is the caller's to close), and Close closes once.
type Socket interface {
	Send(binary bool, data []byte)
	Close(code int, reason string)
}

// SocketID names a socket within its engine.
type SocketID uint64

// Limits of the WebSocket API.
const (
	// maxSocketOutBytes bounds what one call may send, in total.
	maxSocketOutBytes = 64 << 20
	// maxAttachmentBytes bounds serializeAttachment's JSON (Cloudflare's
	// bound is 2 KiB; ours is looser).
	maxAttachmentBytes = 16 << 10
	// maxSocketTags bounds acceptWebSocket's tags, and maxTagBytes each
	// tag, as Cloudflare does.
	maxSocketTags = 10
	maxTagBytes   = 256
)

// ErrSocketNotAccepted: fetch answered an upgrade with a WebSocketPair's
// client whose server end it did not accept.
var ErrSocketNotAccepted = errors.New("the server end of the WebSocketPair was not accepted with ctx.acceptWebSocket")

type socketEntry struct {
	id         SocketID
	sock       Socket
	tags       []string
	attachment json.RawMessage
	// listening marks a socket accepted with ws.accept() (the
	// non-hibernating API, socketevents.go), whose events go to its
	// listeners on owner, the instance that accepted it: weak, so that a
	// dropped instance (and its runtime) is not kept for the socket.
	listening bool
	owner     weak.Pointer[instance]
	autoAt    time.Time // the last auto-response sent; guarded by the registry's mu
}

// socketRegistry is the engine's sockets, by object, in accept order.
type socketRegistry struct {
	mu       sync.Mutex
	next     SocketID
	byObject map[slotKey][]*socketEntry
	auto     map[slotKey]autoResponse // ctx.setWebSocketAutoResponse's pairs
}

func (r *socketRegistry) newID() SocketID {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return r.next
}

func (r *socketRegistry) add(k slotKey, e *socketEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byObject == nil {
		r.byObject = map[slotKey][]*socketEntry{}
	}
	r.byObject[k] = append(r.byObject[k], e)
}

func (r *socketRegistry) find(k slotKey, id SocketID) *socketEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.byObject[k] {
		if e.id == id {
			return e
		}
	}
	return nil
}

func (r *socketRegistry) remove(k slotKey, id SocketID) *socketEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.byObject[k]
	for i, e := range list {
		if e.id == id {
			list = slices.Delete(list, i, i+1)
			if len(list) == 0 {
				delete(r.byObject, k)
			} else {
				r.byObject[k] = list
			}
			return e
		}
	}
	return nil
}

func (r *socketRegistry) list(k slotKey) []*socketEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byObject[k])
}

func (r *socketRegistry) takeAll() []*socketEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []*socketEntry
	for _, list := range r.byObject {
		all = append(all, list...)
	}
	r.byObject = nil
	return all
}

// ids is the set of registered sockets' ids.
func (r *socketRegistry) ids() map[SocketID]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[SocketID]bool{}
	for _, list := range r.byObject {
		for _, e := range list {
			ids[e.id] = true
		}
	}
	return ids
}

func (r *socketRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, list := range r.byObject {
		n += len(list)
	}
	return n
}

// socketOp is one send or close a call made, held by the output gate.
type socketOp struct {
	id     SocketID
	close  bool
	binary bool
	data   []byte
	code   int
	reason string
}

// socketCall is the WebSocket state of one call.
type socketCall struct {
	reg *socketRegistry
	key slotKey
	// pairs are the WebSocketPairs made in this call; accepted are the
	// ones accepted, not yet registered.
	pairs    map[SocketID]bool
	accepted []*socketEntry
	// owner is the instance the call runs on.
	owner *instance
	// conn is the connection of the upgrade request (Connect), and
	// upgrade the pair fetch answered with (0: none).
	conn    Socket
	upgrade SocketID
	out     []socketOp
	outSize int
	closed  map[SocketID]bool // closed by this call
}

func (e *Engine) newSocketCall(k slotKey) *socketCall {
	return &socketCall{reg: &e.sockets, key: k}
}

// entry is a socket of the call's object: accepted in this call or
// registered before; nil when there is none (closed, or never accepted).
func (sc *socketCall) entry(id SocketID) *socketEntry {
	for _, e := range sc.accepted {
		if e.id == id {
			return e
		}
	}
	return sc.reg.find(sc.key, id)
}

// release gives what the call sent to the sockets, after its commit: the
// upgrade's socket is registered first, so what the call sent it goes
// out once the connection is up.
func (sc *socketCall) release() {
	for _, e := range sc.accepted {
		if e.id == sc.upgrade && sc.conn != nil {
			e.sock = sc.conn
			sc.reg.add(sc.key, e)
		}
	}
	for _, op := range sc.out {
		e := sc.reg.find(sc.key, op.id)
		if e == nil {
			continue
		}
		if op.close {
			sc.reg.remove(sc.key, op.id)
			e.sock.Close(op.code, op.reason)
			continue
		}
		e.sock.Send(op.binary, op.data)
	}
	sc.out = nil
}

// wsHooks are websocket.js's functions the engine drives.
type wsHooks struct {
	wrapContext, upgradeOf, socketFor goja.Callable
	dispatch                          goja.Callable // an event to a listening socket's listeners (socketevents.go)
	remembered                        goja.Callable // the sockets the runtime keeps an object for
}

// installWebSockets runs websocket.js on the vm (after the prelude) and
// makes the contexts the prelude builds carry the WebSocket methods.
func (vm *vm) installWebSockets() error {
	prog, err := websocketProgram()
	if err != nil {
		return fmt.Errorf("classes: compile websocket.js: %w", err)
	}
	fn, err := vm.rt.RunProgram(prog)
	if err != nil {
		return fmt.Errorf("classes: run websocket.js: %w", err)
	}
	setup, ok := goja.AssertFunction(fn)
	if !ok {
		return errors.New("classes: websocket.js is not a function")
	}
	out, err := setup(goja.Undefined(), vm.socketNatives(), vm.dispatchAwaiting)
	if err != nil {
		return fmt.Errorf("classes: set up websocket.js: %w", err)
	}
	o := out.ToObject(vm.rt)
	for name, dst := range map[string]*goja.Callable{
		"wrapContext": &vm.ws.wrapContext,
		"upgradeOf":   &vm.ws.upgradeOf,
		"socketFor":   &vm.ws.socketFor,
		"remembered":  &vm.ws.remembered,
		"dispatch":    &vm.ws.dispatch,
	} {
		if *dst, ok = goja.AssertFunction(o.Get(name)); !ok {
			return fmt.Errorf("classes: websocket.js lacks %s", name)
		}
	}
	makeContext := vm.hooks.makeContext
	vm.hooks.makeContext = func(this goja.Value, args ...goja.Value) (goja.Value, error) {
		ctx, err := makeContext(this, args...)
		if err != nil {
			return nil, err
		}
		return vm.ws.wrapContext(goja.Undefined(), ctx)
	}
	return nil
}

func (vm *vm) socketNatives() *goja.Object {
	return vm.nativeObject(map[string]func(goja.FunctionCall) goja.Value{
		"pair":          vm.wsPair,
		"accept":        vm.wsAccept,
		"list":          vm.wsList,
		"tags":          vm.wsTags,
		"send":          vm.wsSend,
		"close":         vm.wsClose,
		"readyState":    vm.wsReadyState,
		"setAttachment": vm.wsSetAttachment,
		"getAttachment": vm.wsGetAttachment,
		"closed":        vm.wsClosed,
		"listen":        vm.wsListen,
		"setAuto":       vm.wsSetAuto,
		"getAuto":       vm.wsGetAuto,
		"autoAt":        vm.wsAutoAt,
	})
}

// sockets is the running call's WebSocket state; it throws outside a call.
func (vm *vm) sockets(what string) *socketCall {
	if vm.call == nil || vm.call.ws == nil {
		vm.typeError("%s: WebSockets are used only within a call", what)
	}
	return vm.call.ws
}

func (vm *vm) socketID(v goja.Value) SocketID { return SocketID(v.ToInteger()) }

// closed(ids) returns those of ids that are neither registered with any
// object nor made by the running call's WebSocketPair: websocket.js
// forgets them.
func (vm *vm) wsClosed(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("closed")
	o, ok := fc.Argument(0).(*goja.Object)
	if !ok {
		vm.typeError("closed: expected an array of ids")
	}
	var ids []SocketID
	if err := vm.rt.ExportTo(o, &ids); err != nil {
		vm.typeError("closed: %v", err)
	}
	open := sc.reg.ids()
	var gone []any
	for _, id := range ids {
		if !open[id] && !sc.pairs[id] {
			gone = append(gone, int64(id))
		}
	}
	return vm.rt.NewArray(gone...)
}

// pair() makes a WebSocketPair's id.
func (vm *vm) wsPair(goja.FunctionCall) goja.Value {
	sc := vm.sockets("WebSocketPair")
	id := sc.reg.newID()
	if sc.pairs == nil {
		sc.pairs = map[SocketID]bool{}
	}
	sc.pairs[id] = true
	return vm.rt.ToValue(int64(id))
}

// accept(id, tags) accepts a pair made in this call.
func (vm *vm) wsAccept(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("acceptWebSocket")
	id := vm.socketID(fc.Argument(0))
	if !sc.pairs[id] {
		vm.typeError("acceptWebSocket: the WebSocket was not made by this call's WebSocketPair")
	}
	if sc.entry(id) != nil {
		vm.typeError("acceptWebSocket: the WebSocket was accepted already")
	}
	var tags []string
	if err := vm.rt.ExportTo(fc.Argument(1), &tags); err != nil {
		vm.typeError("acceptWebSocket: tags: %v", err)
	}
	if len(tags) > maxSocketTags {
		vm.typeError("acceptWebSocket: at most %d tags", maxSocketTags)
	}
	for _, t := range tags {
		if len(t) > maxTagBytes {
			vm.typeError("acceptWebSocket: a tag is longer than %d bytes", maxTagBytes)
		}
	}
	sc.accepted = append(sc.accepted, &socketEntry{id: id, tags: tags})
	return goja.Undefined()
}

// list(tag) is the ids of the object's open sockets (with tag, when not
// null), in accept order, those accepted in this call last.
func (vm *vm) wsList(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("getWebSockets")
	all := append(sc.reg.list(sc.key), sc.accepted...)
	tag, allTags := "", goja.IsNull(fc.Argument(0))
	if !allTags {
		tag = fc.Argument(0).String()
	}
	ids := make([]any, 0, len(all))
	for _, e := range all {
		if !sc.closed[e.id] && (allTags || slices.Contains(e.tags, tag)) {
			ids = append(ids, int64(e.id))
		}
	}
	return vm.rt.NewArray(ids...)
}

func (vm *vm) wsTags(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("getTags")
	e := sc.entry(vm.socketID(fc.Argument(0)))
	if e == nil {
		return vm.rt.NewArray()
	}
	tags := make([]any, len(e.tags))
	for i, t := range e.tags {
		tags[i] = t
	}
	return vm.rt.NewArray(tags...)
}

// send(id, message, binary) queues a message behind the output gate. A
// socket that is closed (or never accepted) drops it, as a closed
// socket's send does nothing in the hibernation API.
func (vm *vm) wsSend(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("send")
	id := vm.socketID(fc.Argument(0))
	var data []byte
	binary := fc.Argument(2).ToBoolean()
	if binary {
		ab, ok := fc.Argument(1).Export().(goja.ArrayBuffer)
		if !ok {
			vm.typeError("send: expected an ArrayBuffer")
		}
		data = slices.Clone(ab.Bytes())
	} else {
		data = []byte(fc.Argument(1).String())
	}
	if len(data) > vm.cfg.MaxResponseBytes {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: send: a message of %d bytes, over %d", ErrResponseTooLarge, len(data), vm.cfg.MaxResponseBytes))
	}
	if sc.outSize+len(data) > maxSocketOutBytes {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: send: one call may send at most %d bytes", ErrResponseTooLarge, maxSocketOutBytes))
	}
	if sc.closed[id] {
		return goja.Undefined()
	}
	sc.outSize += len(data)
	sc.out = append(sc.out, socketOp{id: id, binary: binary, data: data})
	return goja.Undefined()
}

func (vm *vm) wsClose(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("close")
	id := vm.socketID(fc.Argument(0))
	if sc.closed[id] {
		return goja.Undefined()
	}
	if sc.closed == nil {
		sc.closed = map[SocketID]bool{}
	}
	sc.closed[id] = true
	reason := fc.Argument(2).String()
	if len(reason) > 123 { // a close frame's payload is at most 125 bytes
		vm.typeError("close: the reason is longer than 123 bytes")
	}
	sc.out = append(sc.out, socketOp{id: id, close: true, code: int(fc.Argument(1).ToInteger()), reason: reason})
	return goja.Undefined()
}

// readyState: OPEN while the socket is accepted and not closed, CLOSING
// once this call closed it, CLOSED otherwise (the client end of a pair
// reads as OPEN once its server end is accepted).
func (vm *vm) wsReadyState(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("readyState")
	id := vm.socketID(fc.Argument(0))
	switch {
	case sc.closed[id]:
		return vm.rt.ToValue(2)
	case sc.entry(id) != nil:
		return vm.rt.ToValue(1)
	case sc.pairs[id]:
		return vm.rt.ToValue(0)
	}
	return vm.rt.ToValue(3)
}

// setAttachment keeps a value with the socket, in the node's memory (not
// in storage): it lasts as long as the connection.
func (vm *vm) wsSetAttachment(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("serializeAttachment")
	raw := vm.encodeValue("serializeAttachment", fc.Argument(1), maxAttachmentBytes)
	if e := sc.entry(vm.socketID(fc.Argument(0))); e != nil {
		sc.reg.mu.Lock()
		e.attachment = raw
		sc.reg.mu.Unlock()
	}
	return goja.Undefined()
}

func (vm *vm) wsGetAttachment(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("deserializeAttachment")
	e := sc.entry(vm.socketID(fc.Argument(0)))
	if e == nil {
		return goja.Null()
	}
	sc.reg.mu.Lock()
	raw := e.attachment
	sc.reg.mu.Unlock()
	if raw == nil {
		return goja.Null()
	}
	v, err := vm.decode(raw)
	if err != nil {
		vm.throw(vm.hooks.errorCtor, err)
	}
	return v
}

// Connect runs fetch(request) for an upgrade request whose connection is
// conn. When fetch answers with status 101 and a WebSocketPair's client
// whose server end it accepted, the Response is 101 and the socket is
// registered with conn (after commit, as everything the call did): the
// caller completes the handshake and from then on calls SocketMessage and
// SocketClosed with the id. Any other Response is returned as Call
// returns it, with id 0, and conn is not used.
func (e *Engine) Connect(ctx context.Context, ref ClassRef, object string, req *Request, state State, conn Socket, commit func(Effects, *Response) error) (*Response, SocketID, error) {
	var (
		resp *Response
		id   SocketID
	)
	err := e.run(ctx, ref, object, state, func(in *instance) error {
		r, pair, err := in.fetchUpgrade(req)
		if err != nil {
			return err
		}
		sc := in.call.ws
		if pair != 0 {
			if sc.entry(pair) == nil {
				return &ScriptError{Message: ErrSocketNotAccepted.Error(), Err: ErrSocketNotAccepted}
			}
			sc.conn, sc.upgrade = conn, pair
		}
		if err := in.outside(func() error { return commit(in.call.ov.effects(), r) }); err != nil {
			return err
		}
		resp, id = r, pair
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return resp, id, nil
}

// fetchUpgrade is fetch for an upgrade request: it also returns the pair
// id of a WebSocket Response (0 for any other Response).
func (in *instance) fetchUpgrade(req *Request) (*Response, SocketID, error) {
	res, err := in.callFetch(req)
	if err != nil {
		return nil, 0, err
	}
	var pair int64
	if _, err := in.run(func() (goja.Value, error) {
		p, err := in.vm.ws.upgradeOf(goja.Undefined(), res)
		if err == nil {
			pair = p.ToInteger()
		}
		return nil, err
	}); err != nil {
		return nil, 0, err
	}
	if pair > 0 {
		return &Response{Status: 101}, SocketID(pair), nil
	}
	r, err := in.responseOf(res)
	return r, 0, err
}

// SocketMessage runs webSocketMessage(ws, message) of the object for a
// message its socket id received: a string, or an ArrayBuffer when
// binary. It goes through the object's input gate; commit gets the
// handler's Effects, and what the handler sent goes out after commit
// succeeded. A socket no longer registered (closed) runs nothing; nor
// does a class without webSocketMessage.
func (e *Engine) SocketMessage(ctx context.Context, ref ClassRef, object string, id SocketID, binary bool, data []byte, state State, commit func(Effects) error) error {
	k := slotKey{class: ref.Name, object: object}
	if e.sockets.find(k, id) == nil || e.autoRespond(k, id, binary, data) {
		return nil
	}
	return e.run(ctx, ref, object, state, func(in *instance) error {
		entry := e.sockets.find(k, id)
		if entry == nil { // closed while this call queued
			return nil
		}
		rt := in.vm.rt
		var msg goja.Value
		if binary {
			msg = rt.ToValue(rt.NewArrayBuffer(slices.Clone(data)))
		} else {
			msg = rt.ToValue(string(data))
		}
		var err error
		if entry.listening {
			err = in.socketEvent(entry, "message", msg)
		} else {
			err = in.socketHandler("webSocketMessage", id, msg)
		}
		if err != nil {
			return err
		}
		return in.outside(func() error { return commit(in.call.ov.effects()) })
	})
}

// SocketClosed unregisters socket id, which the client closed (with
// code and reason; wasClean false when the connection ended without a
// close frame, code 1006), and runs webSocketClose(ws, code, reason,
// wasClean) through the gate, as SocketMessage runs its handler. A
// socket the object closed itself, or one closed by CloseSockets, runs
// nothing.
func (e *Engine) SocketClosed(ctx context.Context, ref ClassRef, object string, id SocketID, code int, reason string, wasClean bool, state State, commit func(Effects) error) error {
	k := slotKey{class: ref.Name, object: object}
	entry := e.sockets.remove(k, id)
	if entry == nil {
		return nil
	}
	return e.run(ctx, ref, object, state, func(in *instance) error {
		rt := in.vm.rt
		var err error
		if entry.listening {
			if !wasClean {
				err = in.socketEvent(entry, "error", rt.ToValue("the connection ended without a close frame"))
			}
			if err == nil {
				err = in.socketEvent(entry, "close", rt.ToValue(code), rt.ToValue(reason), rt.ToValue(wasClean))
			}
		} else {
			err = in.socketHandler("webSocketClose", id, rt.ToValue(code), rt.ToValue(reason), rt.ToValue(wasClean))
		}
		if err != nil {
			return err
		}
		return in.outside(func() error { return commit(in.call.ov.effects()) })
	})
}

// socketHandler calls the class's handler method with the socket's
// WebSocket object and args, and settles it; a class without the method
// runs nothing.
func (in *instance) socketHandler(method string, id SocketID, args ...goja.Value) error {
	vm := in.vm
	var present bool
	v, err := in.run(func() (goja.Value, error) {
		f, ok := goja.AssertFunction(in.object.Get(method))
		if !ok {
			return goja.Undefined(), nil
		}
		present = true
		ws, err := vm.ws.socketFor(goja.Undefined(), vm.rt.ToValue(int64(id)))
		if err != nil {
			return nil, err
		}
		return f(in.object, append([]goja.Value{ws}, args...)...)
	})
	if err != nil || !present {
		return err
	}
	_, err = in.settle(v, method)
	return err
}

// CloseSockets closes every socket of the engine with code and reason
// and forgets them, running no handler: for a leader that steps down,
// whose objects move to another node.
func (e *Engine) CloseSockets(code int, reason string) int {
	all := e.sockets.takeAll()
	for _, s := range all {
		s.sock.Close(code, reason)
	}
	return len(all)
}

// DropSocket forgets socket id of object of class without running any
// handler: for a connection that ended when its handler could not run
// (the class was removed, the node is no longer the leader).
func (e *Engine) DropSocket(class, object string, id SocketID) {
	e.sockets.remove(slotKey{class: class, object: object}, id)
}

// Sockets is the number of sockets open on the engine's objects.
func (e *Engine) Sockets() int { return e.sockets.count() }
