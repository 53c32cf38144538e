package watch

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/dobj/dobj/fsm"
)

var _ fsm.Observer = (*Hub)(nil)

var (
	// ErrSlow cuts a watcher that did not keep up: its buffer filled.
	// It should resume after the last index it received.
	ErrSlow = errors.New("watch: watcher fell behind and was cut off")
	// ErrReset cuts every watcher when a snapshot replaces the state: the
	// changes it covers were never seen here, so the watcher must read
	// the object again (a resume from before the snapshot is ErrGone).
	ErrReset = errors.New("watch: state replaced by a snapshot")
	// ErrClosed: the hub is shutting down.
	ErrClosed = errors.New("watch: hub closed")
	// ErrTooMany refuses a watch past Options.MaxWatchers.
	ErrTooMany = errors.New("watch: too many watches open")
)

// GoneError refuses a resume from an index older than the history holds:
// Oldest is the oldest index a watch can resume after.
type GoneError struct {
	Since  uint64
	Oldest uint64
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("watch: index %d is older than the history, which resumes after %d", e.Since, e.Oldest)
}

// Options bound a Hub's memory.
type Options struct {
	// MaxEvents and MaxBytes bound the history (defaults 100,000 and
	// 64 MiB); the oldest events go first.
	MaxEvents int
	MaxBytes  int64
	// Buffer is how many events a watcher may have waiting before it is
	// cut off with ErrSlow (default 1024).
	Buffer int
	// MaxWatchers bounds the watches open at once (default 10,000);
	// each holds a buffer and a stream's memory.
	MaxWatchers int
}

func (o *Options) setDefaults() {
	if o.MaxEvents <= 0 {
		o.MaxEvents = 100_000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = 10_000
	}
}

// Hub is the FSM's Observer and every watcher's source.
type Hub struct {
	opts Options

	// mu guards everything below. Publishing holds it while it appends
	// to the history and offers the events to watchers, never longer.
	mu sync.Mutex
	// history holds the newest events in index order from head on;
	// history[:head] are dropped slots, reclaimed when they are half.
	history []*Event
	head    int
	bytes   int64
	// floor: every change with an index above floor is in the history
	// or yet to come. It rises as old events are dropped and jumps to a
	// restored snapshot's index.
	floor uint64
	// last is the newest index published or restored.
	last   uint64
	subs   map[string]map[*Sub]struct{} // by object
	open   int
	closed bool
}

// NewHub returns an empty hub. Its history starts at index 0: a Machine
// that Raft replays from the start reports every change.
func NewHub(opts Options) *Hub {
	opts.setDefaults()
	return &Hub{opts: opts, subs: map[string]map[*Sub]struct{}{}}
}

// ObjectsChanged records changes and offers each to its object's
// watchers; a watcher whose buffer is full is cut off with ErrSlow.
func (h *Hub) ObjectsChanged(changes []fsm.ObjectChange) {
	events := make([]*Event, len(changes))
	for i, c := range changes {
		events[i] = newEvent(c.Index, c.Object, c.Changes)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range events {
		h.history = append(h.history, e)
		h.bytes += e.size()
		h.last = max(h.last, e.Index)
		for s := range h.subs[e.Object] {
			if e.Index <= s.since {
				continue
			}
			select {
			case s.ch <- e:
			default:
				h.cut(s, ErrSlow)
			}
		}
	}
	h.trim()
}

// trim drops the oldest events past the bounds; mu is held.
func (h *Hub) trim() {
	for len(h.history)-h.head > h.opts.MaxEvents || (h.bytes > h.opts.MaxBytes && len(h.history)-h.head > 0) {
		e := h.history[h.head]
		h.history[h.head] = nil
		h.head++
		h.bytes -= e.size()
		h.floor = max(h.floor, e.Index)
	}
	if h.head > 0 && h.head >= len(h.history)/2 {
		h.history = append(h.history[:0:0], h.history[h.head:]...)
		h.head = 0
	}
}

// Restored forgets the history: the snapshot at index skipped changes no
// watcher saw, so every watcher is cut off with ErrReset.
func (h *Hub) Restored(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history, h.head, h.bytes = nil, 0, 0
	h.floor, h.last = index, index
	h.cutAllLocked(ErrReset)
}

// Subscribe starts a watch of object. With from set, it first delivers
// every change after since that the history holds (GoneError when since
// is older than the history); without, it starts after the newest index
// seen. Only changes after since are ever delivered, so a watcher that
// resumes here after reading a newer node misses and repeats nothing.
func (h *Hub) Subscribe(object string, since uint64, from bool, prefix string) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.open >= h.opts.MaxWatchers {
		return nil, ErrTooMany
	}
	if !from {
		since = h.last
	} else if since < h.floor {
		return nil, &GoneError{Since: since, Oldest: h.floor}
	}
	s := &Sub{hub: h, object: object, prefix: prefix, since: since, ch: make(chan *Event, h.opts.Buffer), done: make(chan struct{}),
		cursor: since, backlogTo: h.last}
	set := h.subs[object]
	if set == nil {
		set = map[*Sub]struct{}{}
		h.subs[object] = set
	}
	set[s] = struct{}{}
	h.open++
	return s, nil
}

// cut ends s with err; mu is held.
func (h *Hub) cut(s *Sub, err error) {
	set := h.subs[s.object]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.object)
	}
	h.open--
	s.err = err
	close(s.done)
}

// CutAll ends every watch with err (a node that lost its leader or fell
// behind tells its watchers so, rather than going silent).
func (h *Hub) CutAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cutAllLocked(err)
}

// cutAllLocked ends every watch with err; h.mu is held.
func (h *Hub) cutAllLocked(err error) {
	for _, set := range h.subs {
		for s := range set {
			h.cut(s, err)
		}
	}
}

// Close ends every watch with ErrClosed and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.cutAllLocked(ErrClosed)
}

// Open is how many watches are open.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// Bounds reports the history: a watch can resume after any index from
// oldest on; newest is the last index published or restored.
func (h *Hub) Bounds() (oldest, newest uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.floor, h.last
}

// Sub is one watch. Its owner reads Backlog first, then C until Done is
// closed; Err then says why.
type Sub struct {
	hub    *Hub
	object string
	prefix string
	since  uint64

	// The backlog is the history's events in (cursor, backlogTo], read a
	// page at a time (Backlog) so that a watcher resuming far back holds
	// a page, not a copy of the history. Events after backlogTo come on
	// ch. Only the watcher's goroutine touches these two.
	cursor    uint64
	backlogTo uint64

	ch   chan *Event
	done chan struct{}
	err  error // set before done is closed
}

// Since is the index the watch resumes after: it delivers only later ones.
func (s *Sub) Since() uint64 { return s.since }

// Prefix is the key prefix the watcher asked for.
func (s *Sub) Prefix() string { return s.prefix }

// backlogScan bounds the history entries one Backlog call looks at, so
// that the hub's lock is never held long; it may return an empty page
// that is not the last.
const backlogScan = 4096

// Backlog returns the next page of the history's events after Since (at
// most max), to deliver before C's; done once there are no more. If the
// history dropped events the watcher had not read yet, the watch is cut
// off with ErrSlow (and a resume from where it got to is ErrGone).
func (s *Sub) Backlog(max int) (page []*Event, done bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.cursor >= s.backlogTo {
		return nil, true
	}
	if s.cursor < h.floor {
		h.cut(s, ErrSlow)
		return nil, true
	}
	live := h.history[h.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].Index > s.cursor })
	scanned := 0
	for ; i < len(live) && live[i].Index <= s.backlogTo; i++ {
		e := live[i]
		// Stop only between indexes: (index, object) names one event,
		// and the cursor must not pass one of this object's unread.
		if (len(page) >= max || scanned >= backlogScan) && e.Index != s.cursor {
			return page, false
		}
		scanned++
		s.cursor = e.Index
		if e.Object == s.object {
			page = append(page, e)
		}
	}
	s.cursor = s.backlogTo
	return page, true
}

// C delivers live events in index order.
func (s *Sub) C() <-chan *Event { return s.ch }

// Done is closed when the hub cut the watch off; events still in C may
// be delivered first.
func (s *Sub) Done() <-chan struct{} { return s.done }

// Err is why the watch was cut off, once Done is closed.
func (s *Sub) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the watch (the watcher left).
func (s *Sub) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.cut(s, nil)
}
