package classes

import (
	"fmt"
	"time"
	"weak"

	"github.com/dop251/goja"
)

// Two more ways of Cloudflare's to serve WebSockets, beside the
// hibernation API's handlers (websocket.go):
//
// Auto-responses: ctx.setWebSocketAutoResponse(pair) makes the engine
// answer a text message equal to pair.request with pair.response on the
// object's hibernatable sockets itself, without running the object (nor
// its input gate); getWebSocketAutoResponseTimestamp(ws) tells when it
// last did on ws. The pair is the object's, kept by the engine as its
// sockets are, and is set at once, not behind the output gate.
//
// The non-hibernating API: ws.accept() on a WebSocketPair's server end
// instead of ctx.acceptWebSocket, then ws.addEventListener("message" |
// "close" | "error"). The listeners live in the instance that accepted
// the socket, so the socket lasts as long as that instance: a message
// that finds the object's instance rebuilt (after a failure, an eviction
// or a redeploy) closes the socket with 1011, as workerd disconnects
// such sockets when the object resets.

// maxAutoResponseChars bounds an auto-response pair's request and
// response, as Cloudflare does.
const maxAutoResponseChars = 2048

// autoResponse is an object's ctx.setWebSocketAutoResponse pair.
type autoResponse struct{ request, response string }

// autoRespond answers a text message on socket id of k by its object's
// auto-response, if it has one and the message is its request; it
// reports whether it did.
func (e *Engine) autoRespond(k slotKey, id SocketID, binary bool, data []byte) bool {
	if binary {
		return false
	}
	r := &e.sockets
	r.mu.Lock()
	a, ok := r.auto[k]
	var entry *socketEntry
	if ok && a.request == string(data) {
		for _, en := range r.byObject[k] {
			if en.id == id && !en.listening {
				entry = en
				entry.autoAt = time.Now()
			}
		}
	}
	r.mu.Unlock()
	if entry == nil {
		return false
	}
	entry.sock.Send(false, []byte(a.response))
	return true
}

// socketEvent dispatches an event of typ ("message", "close" or "error")
// to the listeners of a socket accepted with ws.accept(), and settles
// what they started. When in is not the instance that accepted it, its
// listeners are gone: the socket is closed (1011), unless it is closing.
func (in *instance) socketEvent(entry *socketEntry, typ string, args ...goja.Value) error {
	if entry.owner.Value() != in {
		if typ == "message" {
			sc := in.call.ws
			sc.reg.remove(sc.key, entry.id)
			entry.sock.Close(1011, "the Durable Object was reset")
		}
		return nil
	}
	vm := in.vm
	v, err := in.run(func() (goja.Value, error) {
		return vm.ws.dispatch(goja.Undefined(), append([]goja.Value{vm.rt.ToValue(int64(entry.id)), vm.rt.ToValue(typ)}, args...)...)
	})
	if err != nil {
		return err
	}
	_, err = in.settle(v, "the WebSocket's "+typ+" listeners")
	return err
}

// listen(id) is ws.accept(): it accepts a pair made in this call for the
// non-hibernating API.
func (vm *vm) wsListen(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("accept")
	id := vm.socketID(fc.Argument(0))
	if !sc.pairs[id] {
		vm.typeError("accept: the WebSocket was not made by this call's WebSocketPair")
	}
	if sc.entry(id) != nil {
		vm.typeError("accept: the WebSocket was accepted already")
	}
	sc.accepted = append(sc.accepted, &socketEntry{id: id, listening: true, owner: weak.Make(sc.owner)})
	return goja.Undefined()
}

// setAuto(request, response) sets the object's auto-response; null
// request removes it.
func (vm *vm) wsSetAuto(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("setWebSocketAutoResponse")
	remove := goja.IsNull(fc.Argument(0))
	a := autoResponse{request: fc.Argument(0).String(), response: fc.Argument(1).String()}
	if !remove && (len(a.request) > maxAutoResponseChars || len(a.response) > maxAutoResponseChars) {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("setWebSocketAutoResponse: the request and the response are at most %d bytes each", maxAutoResponseChars))
	}
	r := sc.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case remove:
		delete(r.auto, sc.key)
	case r.auto == nil:
		r.auto = map[slotKey]autoResponse{sc.key: a}
	default:
		r.auto[sc.key] = a
	}
	return goja.Undefined()
}

// getAuto() is the object's auto-response as [request, response], or
// null.
func (vm *vm) wsGetAuto(goja.FunctionCall) goja.Value {
	sc := vm.sockets("getWebSocketAutoResponse")
	sc.reg.mu.Lock()
	a, ok := sc.reg.auto[sc.key]
	sc.reg.mu.Unlock()
	if !ok {
		return goja.Null()
	}
	return vm.rt.NewArray(a.request, a.response)
}

// autoAt(id) is when the engine last auto-responded on the socket, in
// unix milliseconds, or null.
func (vm *vm) wsAutoAt(fc goja.FunctionCall) goja.Value {
	sc := vm.sockets("getWebSocketAutoResponseTimestamp")
	e := sc.entry(vm.socketID(fc.Argument(0)))
	if e == nil {
		return goja.Null()
	}
	sc.reg.mu.Lock()
	at := e.autoAt
	sc.reg.mu.Unlock()
	if at.IsZero() {
		return goja.Null()
	}
	return vm.rt.ToValue(at.UnixMilli())
}
