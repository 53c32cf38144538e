package classes

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/dobj/dobj/objects"
	"github.com/dop251/goja"
)

// Workers (issue 20): a script's default export serves HTTP requests on
// the node that received them, in goja runtimes of the Worker's own (a
// pool per script version: the caller builds a new Worker on redeploy).
// A request runs fetch(request, env, ctx) under the class limits (CPU,
// memory, response size), with no storage and no gate. Requests share
// the runtimes as objects do (runtimes.go): one holds a runtime's turn
// only while its JavaScript runs, and gives it up while it awaits I/O or
// a timer, so a runtime serves many requests that wait on stub calls,
// each with its own call state, as a workerd isolate does. env holds the script's vars and secrets and
// its Durable Object namespaces, whose stubs call objects through
// Outbound, the caller's (the host's: on the leader, over the forwarding
// stream from a follower), as asynchronous I/O of the request
// (asyncio.go).

//go:embed js/workers.js
var workersSource string

var workersProgram = sync.OnceValues(func() (*goja.Program, error) {
	return goja.Compile("workers.js", workersSource, true)
})

// Outbound is how a Worker's stubs reach objects; binding is the index of
// the namespace in WorkerConfig.Namespaces, id the object's.
//
// Error contract: a *ScriptError (the object's code threw: its Name and
// Message) rejects the caller's promise with that exception; any other
// error rejects it with an Error carrying its text.
type Outbound interface {
	RPC(ctx context.Context, binding int, id StubID, method string, args []byte) (json.RawMessage, error)
	Fetch(ctx context.Context, binding int, id StubID, req *Request) (*Response, error)
	// ServiceRPC and ServiceFetch call the Worker of service binding
	// service (an index in WorkerConfig.Services).
	ServiceRPC(ctx context.Context, service int, method string, args []byte) (json.RawMessage, error)
	ServiceFetch(ctx context.Context, service int, req *Request) (*Response, error)
}

// StubID is the object a stub calls: its id's 64 hex digits and, when
// the id was made from a name (idFromName, getByName), that name, which
// the object sees as ctx.id.name once the leader has checked that it
// derives the id.
type StubID struct {
	ID   string
	Name string
}

// Namespace is one Durable Object namespace binding of a Worker.
type Namespace struct {
	Name string // env's property
	NS   objects.Namespace
}

// WorkerConfig is what a Worker runs: the script's bundled ESM main
// module, its env, and how its stubs call out.
type WorkerConfig struct {
	Name       string // the script's, for logs
	Source     []byte
	Env        json.RawMessage // vars and secrets: a JSON object
	Namespaces []Namespace
	Services   []string // service bindings' names in env
	Outbound   Outbound
}

// Worker runs one version of a script's default export.
type Worker struct {
	cfg     Config
	wc      WorkerConfig
	b       *bindings
	program *goja.Program
	// mu guards vms, the runtimes requests may be given, at most
	// cfg.RuntimesPerClass with those building; changed is closed and
	// replaced when either changes.
	mu       sync.Mutex
	vms      []*workerVM
	building int
	changed  chan struct{}
	// sockets are the WebSockets the Worker serves itself
	// (worker_socket.go).
	sockets socketRegistry
}

// NewWorker compiles the script's module (esbuild: ESM to an IIFE,
// cloudflare:workers from the runtime); errors are Compile's.
func NewWorker(cfg Config, wc WorkerConfig) (*Worker, error) {
	cfg.setDefaults()
	_, prog, err := bundle(wc.Source, JavaScript)
	if err != nil {
		return nil, err
	}
	if len(wc.Env) == 0 {
		wc.Env = json.RawMessage("{}")
	}
	return &Worker{cfg: cfg, wc: wc, b: &bindings{namespaces: wc.Namespaces, services: wc.Services, out: wc.Outbound}, program: prog, changed: make(chan struct{})}, nil
}

// workerVM is a Worker's runtime: the prelude, workers.js, the module,
// and the env and handler made once.
type workerVM struct {
	*vm
	run     goja.Callable
	entry   goja.Callable // callEntry: a service binding's RPC
	handler goja.Value
	exports *goja.Object // the module's, for named entrypoints
	env     goja.Value
	// inflight counts the requests on it (guarded by Worker.mu).
	inflight int
}

// Fetch runs the default export's fetch with req; cf is request.cf as a
// JSON object. A throw or rejection is a *ScriptError; the limits' errors
// are the engine's.
func (w *Worker) Fetch(ctx context.Context, req *Request, cf json.RawMessage) (*Response, error) {
	return w.FetchEntrypoint(ctx, "", req, cf)
}

// FetchEntrypoint is Fetch of the module's export named entrypoint (a
// service binding's entrypoint), or of its default export when
// entrypoint is empty.
func (w *Worker) FetchEntrypoint(ctx context.Context, entrypoint string, req *Request, cf json.RawMessage) (*Response, error) {
	var resp *Response
	var socket SocketID
	var on *workerVM
	err := w.onRuntime(ctx, func(wv *workerVM, in *instance) error {
		v, err := in.run(func() (goja.Value, error) {
			handler, err := wv.entrypoint(entrypoint)
			if err != nil {
				return nil, err
			}
			r, err := wv.vm.requestValue(req)
			if err != nil {
				return nil, err
			}
			return wv.run(goja.Undefined(), handler, r, wv.env, wv.vm.rt.ToValue(string(cf)))
		})
		if err == nil {
			v, err = in.settle(v, "the Worker's fetch")
		}
		if err == nil {
			socket, err = w.answerSocket(ctx, in, v)
		}
		switch {
		case err != nil:
			return err
		case socket != 0: // its own WebSocket (worker_socket.go)
			in.call.ws.upgrade, on = socket, wv
			resp = &Response{Status: 101}
			return nil
		}
		resp, err = in.responseOf(v)
		return err
	})
	if err == nil && socket != 0 {
		w.chooseSocket(ctx, on, socket)
	}
	return resp, err
}

// onRuntime runs body as one request on one of the Worker's runtimes:
// counted on it, its turn taken, a call begun. The runtime is dropped
// after an error that leaves it unfit (the memory or CPU limit, a
// panic), kept otherwise.
func (w *Worker) onRuntime(ctx context.Context, body func(wv *workerVM, in *instance) error) (err error) {
	wv, err := w.take(ctx)
	if err != nil {
		return err
	}
	defer func() {
		w.give(wv, !(errors.Is(err, ErrMemoryLimit) || errors.Is(err, errPanic) || errors.Is(err, ErrCPULimit)))
	}()
	return w.callOn(ctx, wv, func(in *instance) error { return body(wv, in) })
}

// callOn runs body as one call on the runtime wv: a call begun with the
// Worker's sockets, the runtime's turn taken for it, and the sockets the
// call accepted handed over once it ends.
func (w *Worker) callOn(ctx context.Context, wv *workerVM, body func(in *instance) error) error {
	c := newCall(ctx, nil, &w.cfg)
	defer c.stop()
	c.ws = &socketCall{reg: &w.sockets, key: workerSocketKey}
	in := &instance{vm: wv.vm}
	if err := wv.vm.takeBefore(ctx); err != nil {
		return err
	}
	in.begin(c)
	defer func() {
		in.end()
		wv.vm.give()
	}()
	err := body(in)
	w.releaseSockets(c.ws)
	return err
}

// take returns the runtime a request runs on, with the request counted
// on it: the one with the fewest requests in flight, preferring one whose
// turn is free; or a new one while fewer than the bound exist and each
// serves a request. A request holds the runtime's turn only while its
// JavaScript runs (it gives it up awaiting I/O or a timer), so one
// runtime serves many requests that wait on stub calls.
func (w *Worker) take(ctx context.Context) (*workerVM, error) {
	for {
		w.mu.Lock()
		var best *workerVM
		for _, wv := range w.vms {
			if best == nil || betterWorkerVM(wv, best) {
				best = wv
			}
		}
		room := len(w.vms)+w.building < w.cfg.RuntimesPerClass
		if best != nil && (best.inflight == 0 || !room) {
			best.inflight++
			w.mu.Unlock()
			return best, nil
		}
		if !room { // the last runtimes are being built: wait for one
			wait := w.changed
			w.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w.building++
		w.mu.Unlock()
		wv, err := w.build(ctx)
		w.mu.Lock()
		w.building--
		if err == nil {
			wv.inflight = 1
			w.vms = append(w.vms, wv)
		}
		w.notifyLocked()
		w.mu.Unlock()
		return wv, err
	}
}

// betterWorkerVM: a free turn before a taken one, then fewer requests.
func betterWorkerVM(a, b *workerVM) bool {
	aBusy, bBusy := a.vm.turnTaken.Load(), b.vm.turnTaken.Load()
	if aBusy != bBusy {
		return !aBusy
	}
	return a.inflight < b.inflight
}

// give ends a request's use of wv; keep false drops the runtime (its
// state cannot be trusted): requests still on it finish there, new ones
// go elsewhere.
func (w *Worker) give(wv *workerVM, keep bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wv.inflight--
	if !keep || wv.vm.retired.Load() {
		w.vms = slices.DeleteFunc(w.vms, func(x *workerVM) bool { return x == wv })
	}
	w.notifyLocked()
}

// notifyLocked wakes the requests waiting in take for room. w.mu is
// held.
func (w *Worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// Runtimes is the number of runtimes the Worker has.
func (w *Worker) Runtimes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.vms)
}

// build makes a runtime: the prelude, workers.js, then the module, whose
// top level runs under the watchdog; then env and the handler.
func (w *Worker) build(ctx context.Context) (*workerVM, error) {
	rt := goja.New()
	rt.SetMaxCallStackSize(w.cfg.MaxStackDepth)
	v, err := newVM(rt, &w.cfg, w.cfg.Logger.With("script", w.wc.Name))
	if err != nil {
		return nil, err
	}
	prog, err := workersProgram()
	if err != nil {
		return nil, fmt.Errorf("classes: compile workers.js: %w", err)
	}
	wv := &workerVM{vm: v}
	c := newCall(ctx, nil, &w.cfg)
	defer c.stop()
	in := &instance{vm: v}
	in.begin(c)
	defer in.end()
	_, err = in.run(func() (goja.Value, error) {
		return nil, w.setup(wv, prog)
	})
	if err != nil {
		return nil, err
	}
	return wv, nil
}

// setup runs workers.js and the module in wv's runtime and makes its env.
func (w *Worker) setup(wv *workerVM, prog *goja.Program) error {
	rt := wv.vm.rt
	makeEnv, run, entry, err := w.b.install(wv.vm, prog)
	if err != nil {
		return err
	}
	wv.run, wv.entry = run, entry
	if _, err := rt.RunProgram(w.program); err != nil {
		return err
	}
	exports := rt.Get(moduleGlobal)
	if exports == nil || goja.IsUndefined(exports) {
		return errors.New("the module has no default export")
	}
	wv.exports = exports.ToObject(rt)
	wv.handler = wv.exports.Get("default")
	if wv.handler == nil || goja.IsUndefined(wv.handler) {
		return errors.New("the module has no default export")
	}
	wv.env, err = w.b.makeEnv(wv.vm, makeEnv, w.wc.Env)
	return err
}

// entrypoint is the export a call to entrypoint runs: the default export
// when it is empty, else the named export, which must be a class (a
// WorkerEntrypoint) as on Cloudflare; another is a TypeError.
func (wv *workerVM) entrypoint(name string) (goja.Value, error) {
	if name == "" {
		return wv.handler, nil
	}
	v := wv.exports.Get(name)
	if _, ok := goja.AssertConstructor(v); !ok || name == "default" {
		msg := fmt.Sprintf("the Worker has no entrypoint class exported as %q", name)
		return nil, &ScriptError{Name: "TypeError", Message: "TypeError: " + msg, Err: errors.New(msg)}
	}
	return v, nil
}

// install runs workers.js in vm's runtime with b's natives and returns
// its makeEnv and run.
func (b *bindings) install(vm *vm, prog *goja.Program) (makeEnv, run, entry goja.Callable, err error) {
	fn, err := vm.rt.RunProgram(prog)
	if err != nil {
		return nil, nil, nil, err
	}
	f, _ := goja.AssertFunction(fn)
	out, err := f(goja.Undefined(), b.natives(vm))
	if err != nil {
		return nil, nil, nil, err
	}
	o := out.ToObject(vm.rt)
	makeEnv, _ = goja.AssertFunction(o.Get("makeEnv"))
	run, _ = goja.AssertFunction(o.Get("run"))
	entry, _ = goja.AssertFunction(o.Get("callEntry"))
	return makeEnv, run, entry, nil
}

// makeEnv is env: the plain JSON's properties and b's namespaces.
func (b *bindings) makeEnv(vm *vm, makeEnv goja.Callable, plain []byte) (goja.Value, error) {
	names := make([]any, len(b.namespaces))
	for i, ns := range b.namespaces {
		names[i] = ns.Name
	}
	if len(plain) == 0 {
		plain = []byte("{}")
	}
	services := make([]any, len(b.services))
	for i, s := range b.services {
		services[i] = s
	}
	return makeEnv(goja.Undefined(), vm.rt.ToValue(string(plain)), vm.rt.NewArray(names...), vm.rt.NewArray(services...))
}
