package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
)

// Config configures the host.
type Config struct {
	// CPULimit bounds the JavaScript time of one call (default
	// classes.DefaultCPULimit).
	CPULimit time.Duration
	// Storage limits, the same as the built-in routes' (defaults
	// objects.DefaultMaxKeyBytes a key, DefaultMaxValueBytes a value);
	// MaxResponseBytes bounds a response body (default: the engine's).
	MaxKeyBytes, MaxValueBytes, MaxResponseBytes int
	// MaxInstances bounds the live object instances, the least recently
	// used idle one dropped first (0: the runtime's default).
	MaxInstances int
	// Runtimes bounds the JavaScript runtimes one class's instances share
	// (0: the runtime's default).
	Runtimes int
	// OutboundAllow are the hosts class code's fetch may reach
	// (classes.Config.OutboundAllow; none when empty).
	OutboundAllow []string
	// MaxNameBytes bounds an object's name, as the api's (default
	// objects.DefaultMaxNameBytes): the leader checks the names peers send.
	MaxNameBytes int
	// MaxSockets bounds the WebSockets whose clients this node serves,
	// its own objects', those it relays and, on the leader, those
	// followers relay to it (default 10,000).
	MaxSockets int

	// ApplyTimeout is the node's (cluster.Config.ApplyTimeout): how long
	// a commit may take (default cluster.DefaultApplyTimeout).
	ApplyTimeout time.Duration
	// IdempotencyWindow is how long a call's Idempotency-Key is
	// remembered (default cluster.DefaultIdempotencyWindow, as writes').
	IdempotencyWindow time.Duration
	// AckBeforeCommit is the known bug cluster.BugAckBeforeCommit: calls
	// are answered before their writes commit.
	AckBeforeCommit bool

	Logger  *slog.Logger
	Metrics *metrics.Set
}

// engineConfig is c as the engine's Config, with the engine's defaults
// for what c leaves zero: the one place those defaults live.
func (c Config) engineConfig() classes.Config {
	return classes.Config{
		Logger:           c.Logger.With("component", "classes"),
		CPULimit:         c.CPULimit,
		MaxResponseBytes: c.MaxResponseBytes,
		MaxValueBytes:    c.MaxValueBytes,
		MaxKeyBytes:      c.MaxKeyBytes,
		MaxInstances:     c.MaxInstances,
		RuntimesPerClass: c.Runtimes,
		OutboundAllow:    c.OutboundAllow,
	}.WithDefaults()
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxNameBytes <= 0 {
		c.MaxNameBytes = objects.DefaultMaxNameBytes
	}
	if c.MaxSockets <= 0 {
		c.MaxSockets = 10_000
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = cluster.DefaultApplyTimeout
	}
	if c.IdempotencyWindow <= 0 {
		c.IdempotencyWindow = cluster.DefaultIdempotencyWindow
	}
	ecfg := c.engineConfig()
	c.CPULimit, c.MaxResponseBytes = ecfg.CPULimit, ecfg.MaxResponseBytes
	c.MaxKeyBytes, c.MaxValueBytes = ecfg.MaxKeyBytes, ecfg.MaxValueBytes
}

var (
	// ErrClassNotFound: no class of that name is registered.
	ErrClassNotFound = errors.New("class not found")
)

// CallError is a call that failed in the class's code (it threw, ran out
// of CPU time, answered too much); nothing was committed. Message is for
// the client.
type CallError struct {
	Message string
	Err     error
}

func (e *CallError) Error() string { return "call failed: " + e.Message }
func (e *CallError) Unwrap() error { return e.Err }

// CallResult is a call's answer.
type CallResult struct {
	Response *classes.Response
	// Index is the log index of the call's command (the first call's
	// for a replayed Idempotency-Key); for a call that wrote nothing and
	// had no key, the index its reads saw.
	Index    uint64
	Replayed bool
}

// Host runs the objects of deployed classes on one node.
type Host struct {
	node   Raft
	cfg    Config
	log    *slog.Logger
	engine *classes.Engine
	// peers forwards a follower's calls to a leader that speaks only
	// stream /1 (others take them on the stream), one request each; it
	// keeps as many connections alive as calls may be in flight, so
	// that a busy follower does not dial one a call.
	peers *peerClient

	// mu guards programs, the compiled version of each class this node
	// has run in term, the newest term a call of this node ran in, and
	// stopAlarms, which ends the alarm scheduler of the current term.
	mu         sync.Mutex
	programs   map[string]program
	term       uint64
	stopAlarms context.CancelFunc

	// sockets counts the sockets whose clients this node serves;
	// relays are those it relays to the leader (websocket_relay.go).
	sockets socketCount
	relays  relaySet

	// workers are the scripts' Workers this node has run (worker.go).
	workers workers

	// sql are the sessions of SQLite-backed objects open on this leader
	// (sql.go); maxSQLLog bounds the SQL writes of one commit, as the
	// engine's MaxWriteBytes bounds a call's key-value writes.
	sql       sqlSessions
	maxSQLLog int

	// callsOnStream and callsOnPost count the forwarded calls this
	// node ran by the way they came: on a /2 forwarding stream or as a
	// POST on pathCall (a follower whose stream is /1).
	callsOnStream, callsOnPost atomic.Uint64

	ctx       context.Context // ends with Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the alarm scheduler
	closeOnce sync.Once
}

// New builds the host of node's objects: it follows node's leadership
// (alarms, sockets), serves its routes on node's peer service, runs the
// calls followers send on their streams and checks the classes they
// deploy. Close it before the node.
func New(node Raft, cfg Config) *Host {
	cfg.setDefaults()
	ecfg := cfg.engineConfig()
	h := &Host{
		node:      node,
		cfg:       cfg,
		log:       cfg.Logger,
		engine:    classes.NewEngine(ecfg),
		maxSQLLog: ecfg.MaxWriteBytes,
		programs:  map[string]program{},
		peers:     newPeerClient(node, 256),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	node.OnLeadership(h.leadership)
	node.HandlePeer("POST "+pathCall, http.HandlerFunc(h.serveCall))
	node.HandlePeer("GET "+pathSocket, http.HandlerFunc(h.serveSocket))
	node.HandleStreamCalls(h.runStreamCall, h.callTimeout())
	node.CheckClasses(func(name, lang string, source []byte) error {
		_, err := classes.Compile(name, source, classes.Lang(lang))
		return err
	})
	if node.IsLeader() {
		// Became leader before it subscribed.
		h.leadership(true)
	}
	return h
}

// Close stops the alarms, closes the sockets this node serves or relays
// (1012) and drops the idle connections to the leader. It is safe to
// call twice.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.cancel()
		h.leadership(false)
		h.wg.Wait()
		h.closeSockets()
		h.peers.close()
	})
	return nil
}

// Stats are the class engine's counters (live instances, the runtimes
// they share, calls), for metrics.
func (h *Host) Stats() classes.Stats { return h.engine.Stats() }

// callTimeout is the one bound of a run of an object's code on the
// leader — a call, forwarded or not, a socket's handler, an alarm — and
// of a forwarded call a follower waits for: its JavaScript up to the CPU
// limit, then its commit.
func (h *Host) callTimeout() time.Duration { return h.cfg.CPULimit + 2*h.cfg.ApplyTimeout }

// errStaleTerm: a call began in a term this node has since left; it is
// refused before it ran or committed anything.
var errStaleTerm = fmt.Errorf("%w: leadership changed since the call began", cluster.ErrNotApplied)

// ref returns the class's program at the version the FSM holds now,
// compiling it on first use of that version, for a call of term (the
// term of the barrier it took). A new version makes the engine forget
// the old one's instances: calls that start after a redeploy is applied
// run the new code on instances rebuilt from storage. A new term makes
// it forget every instance, here, before the term's first call runs:
// instances built in an earlier term may hold in memory what another
// leader has since changed in storage. A call of an earlier term than
// one already seen is refused.
func (h *Host) ref(name string, term uint64) (classes.ClassRef, error) {
	src, ok := h.source(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case term < h.term:
		return classes.ClassRef{}, errStaleTerm
	case term > h.term:
		for class := range h.programs {
			h.engine.Forget(class)
		}
		clear(h.programs)
		h.term = term
	}
	cached, had := h.programs[name]
	if !ok {
		if had {
			delete(h.programs, name)
			h.engine.Forget(name)
		}
		return classes.ClassRef{}, ErrClassNotFound
	}
	if had && src.from != nil && cached.from == src.from {
		return cached.ref, nil // the same stored script: its version and env
	}
	env := src.env()
	if had && cached.ref.Version == src.version && bytes.Equal(cached.ref.Program.Env(), env) {
		h.programs[name] = program{ref: cached.ref, from: src.from}
		return cached.ref, nil
	}
	prog, err := src.compile()
	if err != nil {
		// Compiled before it was committed: only a build whose compiler
		// differs gets here.
		return classes.ClassRef{}, &CallError{Message: fmt.Sprintf("class %s version %d does not compile: %v", name, src.version, err), Err: err}
	}
	if had {
		h.engine.Forget(name)
	}
	ref := classes.ClassRef{Name: name, Version: src.version, Program: prog.WithEnv(env), Reentrant: src.reentrant,
		DeleteAllDeletesAlarm: src.from != nil && src.from.CompatibilityDate >= classes.DeleteAllDeletesAlarmFrom}
	h.programs[name] = program{ref: ref, from: src.from}
	return ref, nil
}

// program is a class's compiled program and, for a script's class, the
// stored script it was compiled from (fsm.Machine.StoredScript): while
// the FSM holds the same one, the program is current.
type program struct {
	ref  classes.ClassRef
	from *fsm.Script
}

// classSource is what ref compiles a class from: its version, the env
// its objects get, and how to compile it.
type classSource struct {
	version uint64
	// from is the stored script a script's class comes from, nil for a
	// class of /_classes; env is its env, made when asked (a call on a
	// program already compiled from the same script never asks).
	from    *fsm.Script
	env     func() []byte
	compile func() (*classes.Program, error)
	// reentrant: its RPCs open the object's gate while they await
	// another object (a script's classes; classes.ClassRef.Reentrant).
	reentrant bool
}

// source finds class name in the FSM: a class of /_classes, or a
// script's (ScriptClass, scripts.go).
func (h *Host) source(name string) (classSource, bool) {
	if script, class, ok := splitScriptClass(name); ok {
		return h.scriptSource(script, class)
	}
	c, ok := h.node.FSM().Class(name)
	if !ok {
		return classSource{}, false
	}
	return classSource{version: c.Version, env: func() []byte { return nil }, compile: func() (*classes.Program, error) {
		return classes.Compile(name, c.Source, classes.Lang(c.Lang))
	}}, true
}

// objectState is classes.State over the FSM: committed storage of one
// class object. The engine's input gate keeps other calls of the object
// from committing while one runs, so the reads of one call see one state
// plus the call's own writes (which the engine overlays).
type objectState struct {
	m      *fsm.Machine
	object string
}

var _ classes.State = objectState{}

func (s objectState) Get(key string) (v json.RawMessage, ok bool) {
	s.m.Read(func(st *objects.Store) { v, ok = st.Get(s.object, key) })
	return v, ok
}

func (s objectState) List(opts objects.ListOptions) (out []objects.Entry) {
	s.m.Read(func(st *objects.Store) { out, _, _ = st.List(s.object, opts) })
	return out
}

func (s objectState) Alarm() (int64, bool) { return s.m.AlarmOf(s.object) }

// DeployClass registers (or replaces) a class through Raft and returns its
// version; the source must compile (api compiles it before).
func (h *Host) DeployClass(ctx context.Context, name string, lang classes.Lang, source []byte) (uint64, error) {
	return h.node.DeployClass(ctx, name, string(lang), source)
}

// DeleteClass removes a class; its objects' storage stays. found is false
// when it was not registered.
func (h *Host) DeleteClass(ctx context.Context, name string) (bool, error) {
	return h.node.DeleteClass(ctx, name)
}

// Class returns a registered class as this node's FSM holds it.
func (h *Host) Class(name string) (cluster.Class, bool) { return h.node.FSM().Class(name) }

// Classes lists the registered classes (without sources) as this node's
// FSM holds them.
func (h *Host) Classes() []cluster.Class { return h.node.FSM().Classes() }
