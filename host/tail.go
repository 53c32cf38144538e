package host

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tail (issue 20's dobj tail): the console lines of a script's Worker and
// of its objects, as this node logs them, fanned out to whoever follows
// the script. The hook is an slog handler wrapped around the node's: the
// engine logs console lines with source=console and either script=<name>
// (a Worker) or class=<script>:<Class> (an object of the script), and the
// wrapper publishes those to the hub besides logging them.
//
// The hub never waits for a subscriber: each has a bounded queue
// (TailQueue lines) and a line that finds it full is dropped and counted,
// so that a slow reader cannot slow a Worker down.

// TailQueue is how many lines a subscriber may fall behind by before
// lines are dropped for it.
const TailQueue = 256

// TailLine is one console line.
type TailLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Node    string    `json:"node"`
	Script  string    `json:"script"`
	// Class and Object are set for a line of an object: the class as the
	// script names it, the object's name (or id).
	Class  string `json:"class,omitempty"`
	Object string `json:"object,omitempty"`
}

// TailHub fans console lines out to subscribers. The zero value is not
// usable; make one with NewTailHub.
type TailHub struct {
	node string
	n    atomic.Int64 // subscribers: the handler looks at lines only when some

	mu   sync.Mutex
	subs map[*TailSub]struct{}
}

// NewTailHub makes the hub of the node named node.
func NewTailHub(node string) *TailHub {
	return &TailHub{node: node, subs: map[*TailSub]struct{}{}}
}

// TailSub is one subscription: the lines of one script.
type TailSub struct {
	hub     *TailHub
	script  string
	c       chan TailLine
	dropped atomic.Uint64
}

// Subscribe follows script's lines until Close.
func (h *TailHub) Subscribe(script string) *TailSub {
	s := &TailSub{hub: h, script: script, c: make(chan TailLine, TailQueue)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.n.Add(1)
	return s
}

// C delivers the lines.
func (s *TailSub) C() <-chan TailLine { return s.c }

// Dropped is how many lines were dropped because the queue was full.
func (s *TailSub) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription; it is idempotent.
func (s *TailSub) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.n.Add(-1)
	}
}

// publish hands l to the script's subscribers, dropping it for those
// whose queue is full.
func (h *TailHub) publish(l TailLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.script != l.Script {
			continue
		}
		select {
		case s.c <- l:
		default:
			s.dropped.Add(1)
		}
	}
}

// Handler wraps next: every record still goes to next (when next takes
// its level), and console lines of a script also go to the hub. A line
// below next's level reaches the hub all the same while someone follows.
func (h *TailHub) Handler(next slog.Handler) slog.Handler {
	return &tailHandler{hub: h, next: next}
}

// tailHandler is Handler's slog.Handler; attrs are those With gave it
// that the hub reads (script, class, object, source).
type tailHandler struct {
	hub   *TailHub
	next  slog.Handler
	attrs tailAttrs
	group bool // inside a group: its attrs are not the engine's
}

type tailAttrs struct{ script, class, object, source string }

// set keeps a's value when it is one the hub reads.
func (t *tailAttrs) set(a slog.Attr) {
	switch a.Key {
	case "script":
		t.script = a.Value.String()
	case "class":
		t.class = a.Value.String()
	case "object":
		t.object = a.Value.String()
	case "source":
		t.source = a.Value.String()
	}
}

func (t *tailHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.next.Enabled(ctx, l) || t.hub.n.Load() > 0
}

func (t *tailHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.hub.n.Load() > 0 && !t.group {
		t.publish(r)
	}
	if !t.next.Enabled(ctx, r.Level) {
		return nil
	}
	return t.next.Handle(ctx, r)
}

// publish sends r to the hub when it is a console line of a script.
func (t *tailHandler) publish(r slog.Record) {
	a := t.attrs
	r.Attrs(func(at slog.Attr) bool {
		a.set(at)
		return true
	})
	if a.source != "console" {
		return
	}
	l := TailLine{Time: r.Time, Level: strings.ToLower(r.Level.String()), Message: r.Message, Node: t.hub.node, Script: a.script, Object: a.object}
	if script, class, ok := splitScriptClass(a.class); ok {
		l.Script, l.Class = script, class
	}
	if l.Script != "" {
		t.hub.publish(l)
	}
}

func (t *tailHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *t
	c.next = t.next.WithAttrs(as)
	if !t.group {
		for _, a := range as {
			c.attrs.set(a)
		}
	}
	return &c
}

func (t *tailHandler) WithGroup(name string) slog.Handler {
	c := *t
	c.next = t.next.WithGroup(name)
	c.group = c.group || name != ""
	return &c
}
