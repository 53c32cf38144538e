package classes

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/dop251/goja"
)

// WebSockets through a Worker. A Worker's stub.fetch of a WebSocket
// upgrade request, in a request that is itself the client's upgrade
// (WithUpgrade), does not run the object's fetch there and then: the
// object's socket has to be joined to the client's connection, which
// only the Worker listener holds. The stub answers at once with a
// Response of status 101 standing for the object's answer; when the
// Worker returns that Response, Fetch's caller learns of it from
// WithUpgrade's function and serves the upgrade through the host's
// class-socket path (the object's fetch runs then, on the leader). A
// Worker that changes or replaces that Response is not supported. A
// Worker may also answer with a WebSocketPair of its own
// (worker_socket.go).

// Upgrade is the socket a Worker answered with: an object's (the
// stub's binding index, the object's id, and the request its fetch
// gets), or, when Socket is set, the Worker's own (worker_socket.go).
type Upgrade struct {
	Binding int
	ID      StubID
	Request *Request
	Socket  *WorkerSocket
}

// upgradeSlot holds the upgrades a request's stubs made and the one the
// Worker answered with.
type upgradeSlot struct {
	mu      sync.Mutex
	pending []Upgrade
	chosen  *Upgrade
}

type upgradeKey struct{}

// WithUpgrade marks ctx as a request whose client asked for a WebSocket;
// the function returns the upgrade the Worker answered with, nil when it
// answered with anything else.
func WithUpgrade(ctx context.Context) (context.Context, func() *Upgrade) {
	s := &upgradeSlot{}
	return context.WithValue(ctx, upgradeKey{}, s), func() *Upgrade {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.chosen
	}
}

// IsUpgrade says whether h asks for a WebSocket.
func IsUpgrade(h http.Header) bool {
	return strings.EqualFold(h.Get("Upgrade"), "websocket")
}

// upgrade is native.upgrade(binding, id, name, method, url, headers): a token
// for an upgrade the Worker may answer with, or -1 when the request is
// not a client's upgrade (the stub then fetches as usual).
func (w *bindings) upgrade(vm *vm, fc goja.FunctionCall) goja.Value {
	s, _ := vm.call.ctx.Value(upgradeKey{}).(*upgradeSlot)
	if s == nil {
		return vm.rt.ToValue(-1)
	}
	b := int(fc.Argument(0).ToInteger())
	w.namespace(vm, fc)
	req := &Request{Method: fc.Argument(3).String(), URL: fc.Argument(4).String(), Header: http.Header{}}
	var pairs [][]string
	if err := vm.rt.ExportTo(fc.Argument(5), &pairs); err != nil {
		vm.typeError("bad headers: %v", err)
	}
	for _, kv := range pairs {
		if len(kv) == 2 {
			req.Header.Add(kv[0], kv[1])
		}
	}
	if !IsUpgrade(req.Header) || req.Method != http.MethodGet {
		return vm.rt.ToValue(-1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, Upgrade{Binding: b, ID: stubID(fc.Argument(1), fc.Argument(2)), Request: req})
	return vm.rt.ToValue(len(s.pending) - 1)
}

// upgraded is native.upgraded(token): the Worker answered with the
// upgrade of token.
func (w *bindings) upgraded(vm *vm, fc goja.FunctionCall) goja.Value {
	s, _ := vm.call.ctx.Value(upgradeKey{}).(*upgradeSlot)
	if s == nil {
		return goja.Undefined()
	}
	t := int(fc.Argument(0).ToInteger())
	s.mu.Lock()
	defer s.mu.Unlock()
	if t >= 0 && t < len(s.pending) {
		u := s.pending[t]
		s.chosen = &u
	}
	return goja.Undefined()
}
