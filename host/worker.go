package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// Workers (issue 20): a request to the Worker listener runs the default
// export of the script it routes to on the node that received it, with
// no trip to the leader; its stubs reach objects, which live on the
// leader, through Call and RPC (the forwarding stream from a follower).
// Every node has every script from the FSM. A script version's Worker
// is built on first use and kept until the script (or its env) changes.

// ErrNoRoute: no deployed script's Worker serves the request's host and
// path.
var ErrNoRoute = errors.New("no Worker serves this route")

// workers caches each script's Worker.
type workers struct {
	mu sync.Mutex
	m  map[string]*scriptWorker
	// serving are Workers replaced by a newer version that still serve
	// WebSockets of their own: those stay on the version that accepted
	// them, and are closed with the rest when the node stops.
	serving []*classes.Worker
}

type scriptWorker struct {
	version uint64
	env     []byte
	w       *classes.Worker
	// from is the stored script it was built from (StoredScript): while
	// the FSM holds the same one, the Worker is current.
	from *fsm.Script
}

// ServeWorker runs the Worker of script with req; cf is request.cf (a
// JSON object). Errors: ErrClassNotFound when the script is not
// deployed; a *CallError when the Worker threw (its ScriptError's Err
// is the node's error when the throw came from an object call that
// failed, e.g. cluster.ErrOutcomeUnknown); the limits' errors.
func (h *Host) ServeWorker(ctx context.Context, script string, req *classes.Request, cf json.RawMessage) (*classes.Response, error) {
	w, err := h.worker(script)
	if err != nil {
		return nil, err
	}
	resp, err := w.Fetch(ctx, req, cf)
	var se *classes.ScriptError
	if errors.As(err, &se) {
		return nil, &CallError{Message: se.Message, Err: err}
	}
	return resp, err
}

// worker returns script's Worker, built for its current version.
func (h *Host) worker(script string) (*classes.Worker, error) {
	sc, ok := h.node.FSM().StoredScript(script)
	if !ok {
		return nil, fmt.Errorf("%w: no script %s", ErrClassNotFound, script)
	}
	h.workers.mu.Lock()
	defer h.workers.mu.Unlock()
	cur := h.workers.m[script]
	if cur != nil && cur.from == sc {
		return cur.w, nil // the same stored script: its version and env
	}
	env := ScriptEnv(sc)
	if cur != nil && cur.version == sc.Version && bytes.Equal(cur.env, env) {
		cur.from = sc
		return cur.w, nil
	}
	namespaces, services, out := h.scriptBindings(sc)
	wc := classes.WorkerConfig{Name: script, Source: mainModule(sc), Env: env, Namespaces: namespaces,
		Services: services, Outbound: out}
	w, err := classes.NewWorker(h.cfg.engineConfig(), wc)
	if err != nil {
		return nil, &CallError{Message: fmt.Sprintf("script %s version %d does not compile: %v", script, sc.Version, err), Err: err}
	}
	if h.workers.m == nil {
		h.workers.m = map[string]*scriptWorker{}
	}
	if cur != nil {
		h.workers.serving = append(h.workers.serving, cur.w)
	}
	h.workers.serving = slices.DeleteFunc(h.workers.serving, func(w *classes.Worker) bool { return w.Sockets() == 0 })
	h.workers.m[script] = &scriptWorker{version: sc.Version, env: env, w: w, from: sc}
	return w, nil
}

// scriptBindings are the script's Durable Object namespace bindings and
// the Outbound their stubs call through, for its Worker and its objects.
func (h *Host) scriptBindings(sc *fsm.Script) ([]classes.Namespace, []string, *outbound) {
	out := &outbound{h: h}
	var services []string
	for _, sv := range sc.Services {
		services = append(services, sv.Name)
		out.services = append(out.services, sv.Service)
		out.entrypoints = append(out.entrypoints, sv.Entrypoint)
	}
	var namespaces []classes.Namespace
	for _, b := range sc.DurableObjects {
		owner := b.Script
		if owner == "" {
			owner = sc.Name
		}
		key, ns, err := h.ResolveScriptClass(owner, b.Class)
		if err != nil {
			key = "" // calls through it answer ErrClassNotFound
		}
		out.keys = append(out.keys, key)
		namespaces = append(namespaces, classes.Namespace{Name: b.Name, NS: ns})
	}
	return namespaces, services, out
}

// outbound is a Worker's classes.Outbound: its namespace bindings'
// class keys, called through the host.
type outbound struct {
	h        *Host
	keys     []string
	services []string // the scripts service bindings call
	// entrypoints are their named exports ("" for the default export).
	entrypoints []string
}

// ServiceRPC runs method of service binding s's script's entrypoint (its
// named export, else its default export), on this node.
func (o *outbound) ServiceRPC(ctx context.Context, s int, method string, args []byte) (json.RawMessage, error) {
	w, err := o.serviceWorker(s)
	if err != nil {
		return nil, err
	}
	return w.RPCEntrypoint(ctx, o.entrypoints[s], method, args)
}

// ServiceFetch runs fetch of service binding s's script's entrypoint, on
// this node.
func (o *outbound) ServiceFetch(ctx context.Context, s int, req *classes.Request) (*classes.Response, error) {
	w, err := o.serviceWorker(s)
	if err != nil {
		return nil, err
	}
	return w.FetchEntrypoint(ctx, o.entrypoints[s], req, json.RawMessage(`{"colo":"dobj"}`))
}

func (o *outbound) serviceWorker(s int) (*classes.Worker, error) {
	if s < 0 || s >= len(o.services) {
		return nil, ErrClassNotFound
	}
	w, err := o.h.worker(o.services[s])
	return w, unwrap(err)
}

func (o *outbound) key(b int) (string, error) {
	if b < 0 || b >= len(o.keys) || o.keys[b] == "" {
		return "", ErrClassNotFound
	}
	return o.keys[b], nil
}

// unwrap gives a Worker the object's own exception when its code threw.
func unwrap(err error) error {
	var ce *CallError
	var se *classes.ScriptError
	if errors.As(err, &ce) && errors.As(err, &se) {
		return se
	}
	return err
}

func (o *outbound) RPC(ctx context.Context, b int, id classes.StubID, method string, args []byte) (json.RawMessage, error) {
	key, err := o.key(b)
	if err != nil {
		return nil, err
	}
	var res *classes.RPCResult
	err = retryNotApplied(ctx, func() (err error) {
		res, err = o.h.RPC(ctx, key, id, method, args, "")
		return err
	})
	if err != nil {
		return nil, unwrap(err)
	}
	return res.Value, nil
}

func (o *outbound) Fetch(ctx context.Context, b int, id classes.StubID, req *classes.Request) (*classes.Response, error) {
	key, err := o.key(b)
	if err != nil {
		return nil, err
	}
	var res *CallResult
	err = retryNotApplied(ctx, func() (err error) {
		res, err = o.h.CallStub(ctx, key, id, req, "")
		return err
	})
	if err != nil {
		var ce *CallError
		if errors.As(err, &ce) {
			return nil, &classes.ScriptError{Name: "Error", Message: ce.Message, Err: err}
		}
		return nil, err
	}
	return res.Response, nil
}

// retryNotApplied runs call again while it fails without having run (no
// leader, leadership changing: not applied), with backoff, until ctx
// ends: a stub's call rides out an election, as Cloudflare's retry
// what they know did not run. An unknown outcome is never retried.
func retryNotApplied(ctx context.Context, call func() error) error {
	wait := 20 * time.Millisecond
	for {
		err := call()
		if !errors.Is(err, cluster.ErrNotApplied) && !errors.Is(err, cluster.ErrNotLeader) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// RouteWorker returns the script whose Worker serves host and path: the
// only script, or the one with a routes pattern that matches
// host+path ('*' matches any run of characters). ErrNoRoute otherwise.
//
// A node that finds no script first catches up with the leader's
// commit index and looks again, so a script deployed through any node
// before the request began is found on every node (a follower may not
// yet have applied the deploy its client was just told of).
func (h *Host) RouteWorker(ctx context.Context, host, path string) (string, error) {
	script, err := h.routeWorker(host, path)
	if !errors.Is(err, ErrNoRoute) {
		return script, err
	}
	if _, rerr := h.node.Read(ctx, true, func(*objects.Store) {}); rerr != nil {
		return "", err
	}
	return h.routeWorker(host, path)
}

// routeWorker is RouteWorker on the scripts this node has applied.
func (h *Host) routeWorker(host, path string) (string, error) {
	scripts := h.node.FSM().Scripts()
	if len(scripts) == 1 {
		return scripts[0].Name, nil
	}
	host, _, _ = strings.Cut(host, ":")
	for _, sc := range scripts {
		for _, r := range sc.Routes {
			if routeMatches(r, host, path) {
				return sc.Name, nil
			}
		}
	}
	return "", ErrNoRoute
}

// routeMatches matches a route pattern (host/path, '*' wildcards; a
// custom domain is the host alone) against host and path.
func routeMatches(r fsm.Route, host, path string) bool {
	p := r.Pattern
	if r.CustomDomain && !strings.Contains(p, "/") {
		p += "/*"
	}
	if !strings.Contains(p, "/") {
		p += "/"
	}
	return glob(p, host+path)
}

// glob matches s against p, where '*' matches any run of characters.
func glob(p, s string) bool {
	for len(p) > 0 {
		if p[0] == '*' {
			for i := len(s); i >= 0; i-- {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		}
		if len(s) == 0 || p[0] != s[0] {
			return false
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
