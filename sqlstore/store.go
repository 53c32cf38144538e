package sqlstore

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Config says where a store keeps its databases and how it bounds them.
type Config struct {
	// Dir holds one database file per object (the node's data directory
	// later). It is created if missing.
	Dir string
	// MaxOpen bounds the database handles kept open at once, and
	// MaxOpenBytes their memory (memory.go): the least recently used
	// idle handle is closed past either. Zero means DefaultMaxOpen and
	// DefaultMaxOpenBytes.
	MaxOpen      int
	MaxOpenBytes int64
	// Limits are Cloudflare's per-statement and per-database limits.
	// Zero fields take DefaultLimits' values.
	Limits Limits
}

// Limits are the bounds Cloudflare documents for SQLite-backed objects.
type Limits struct {
	DatabaseBytes  int64 // a database's size; writes past it fail, reads go on
	StatementBytes int   // the length of an SQL statement
	Params         int   // bound parameters of one statement
	Columns        int   // columns of a table (and of a result)
	RowBytes       int   // a string, BLOB or row
	FunctionArgs   int   // arguments of an SQL function
	LikePattern    int   // the length of a LIKE or GLOB pattern
	// ResultBytes bounds what one statement's result may hold while a
	// session keeps it (resultBytes counts it): the rows are read before
	// the JavaScript gets any, so without it a SELECT of a large table
	// would take as much of the node's memory as the table holds.
	ResultBytes int64
}

// DefaultLimits are Cloudflare's published limits (the database size is
// the paid plan's 10 GB), and dobj's bound on a statement's result: half
// the memory Cloudflare gives a whole isolate (128 MB).
var DefaultLimits = Limits{
	DatabaseBytes:  10 << 30,
	StatementBytes: 100_000,
	Params:         100,
	Columns:        100,
	RowBytes:       2_000_000,
	FunctionArgs:   32,
	LikePattern:    50,
	ResultBytes:    64 << 20,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	if l.DatabaseBytes <= 0 {
		l.DatabaseBytes = d.DatabaseBytes
	}
	if l.ResultBytes <= 0 {
		l.ResultBytes = d.ResultBytes
	}
	l.StatementBytes = pick(l.StatementBytes, d.StatementBytes)
	l.Params = pick(l.Params, d.Params)
	l.Columns = pick(l.Columns, d.Columns)
	l.RowBytes = pick(l.RowBytes, d.RowBytes)
	l.FunctionArgs = pick(l.FunctionArgs, d.FunctionArgs)
	l.LikePattern = pick(l.LikePattern, d.LikePattern)
	return l
}

// DefaultMaxOpenBytes is MaxOpenBytes' default: 1,280 databases
// freshly opened (0.5 MB each), 365 that have held rows of 256 KiB. It
// keeps a node under issue 22's 1 GB with 10,000 objects in use, with
// what the rest of the node holds; within it, a node with as many
// objects in use as fit opens none per call (an open costs as much as
// dozens of applies). An operator with more memory raises it.
const DefaultMaxOpenBytes = 640 << 20

// DefaultMaxOpen is MaxOpen's default, a bound on the files held open
// (two a database: the database and its log), well above what
// DefaultMaxOpenBytes lets open.
const DefaultMaxOpen = 4096

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("sqlstore: store closed")

// Store keeps one SQLite database per object under a directory, with a
// bounded pool of open handles. Its methods are safe for concurrent use;
// calls on one object are serialized by that object's handle.
type Store struct {
	cfg   Config
	id    string // the directory's identity (ID)
	dates *dateHelper

	mu      sync.Mutex
	handles map[string]*handle
	lru     list.List // of *handle, most recently used first
	bytes   int64     // the open handles' memory, as counted (handle.counted)
	opened  int       // handles opened over the store's life
	closed  bool
	// expect: positions databases must hold when next opened (Expect).
	expect map[string]uint64
}

// Open makes a store over cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("sqlstore: no directory")
	}
	if cfg.MaxOpen <= 0 {
		cfg.MaxOpen = DefaultMaxOpen
	}
	if cfg.MaxOpenBytes <= 0 {
		cfg.MaxOpenBytes = DefaultMaxOpenBytes
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sqlstore: create %s: %w", cfg.Dir, err)
	}
	id, err := storeID(cfg.Dir)
	if err != nil {
		return nil, err
	}
	dates, err := newDateHelper()
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, id: id, dates: dates, handles: map[string]*handle{}, expect: map[string]uint64{}}, nil
}

// Close closes every handle; it waits for sessions in progress to end.
// It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hs := make([]*handle, 0, len(s.handles))
	for _, h := range s.handles {
		hs = append(hs, h)
	}
	s.handles = nil
	s.lru.Init()
	s.bytes = 0
	s.mu.Unlock()
	var errs []error
	for _, h := range hs {
		h.mu.Lock()
		errs = append(errs, h.close())
		h.mu.Unlock()
	}
	errs = append(errs, s.dates.close())
	return errors.Join(errs...)
}

// Path is the file that holds object's database: a hash of the name, so
// any object name (up to 256 bytes of UTF-8) makes a valid file name.
func (s *Store) Path(object string) string {
	sum := sha256.Sum256([]byte(object))
	return filepath.Join(s.cfg.Dir, hex.EncodeToString(sum[:])+".db")
}

// Opened is how many times the store has opened a database, over its
// life: with the pool full, each call of an object whose handle was
// closed adds one (--sql-open-databases).
func (s *Store) Opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// OpenHandles is how many database handles are open now.
func (s *Store) OpenHandles() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.handles)
}

// OpenBytes is the open handles' memory as the pool counts it: each
// one's WebAssembly memory when its last user gave it back.
func (s *Store) OpenBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// acquire returns object's handle, opened if need be, locked for the
// caller's exclusive use; release gives it back.
func (s *Store) acquire(object string) (*handle, error) {
	for {
		h, err := s.pin(object)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		if h.conn != nil {
			return h, nil
		}
		// drop closed it while we waited: open it afresh.
		s.release(h)
	}
}

// pin finds or opens object's handle and counts the caller as its user,
// so the pool does not close it.
func (s *Store) pin(object string) (*handle, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	h, ok := s.handles[object]
	if !ok {
		var err error
		h, err = openHandle(s, object)
		if err == nil {
			if err = s.checkExpected(h); err != nil {
				_ = h.close()
			}
		}
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.opened++
		s.handles[object] = h
		h.elem = s.lru.PushFront(h)
		h.counted = h.mem.Load()
		s.bytes += h.counted
	} else {
		s.lru.MoveToFront(h.elem)
	}
	h.refs++
	s.evictLocked()
	s.mu.Unlock()
	return h, nil
}

// release measures h's memory (the caller used it, and may have grown
// it), unlocks it and lets the pool close it if it is over its bounds.
func (s *Store) release(h *handle) {
	h.measure()
	h.mu.Unlock()
	s.unpin(h)
}

// unpin counts the caller out of h's users (pin's undo), and lets the
// pool close it if it is over its bounds.
func (s *Store) unpin(h *handle) {
	s.mu.Lock()
	h.refs--
	if !s.closed {
		if s.handles[h.name] == h { // not closed and replaced meanwhile
			m := h.mem.Load()
			s.bytes += m - h.counted
			h.counted = m
		}
		s.evictLocked()
	}
	s.mu.Unlock()
}

// evictLocked closes least recently used idle handles until the pool is
// within its bounds. Handles in use are skipped: the bounds are exceeded
// only while the objects in use at once take more.
func (s *Store) evictLocked() {
	for e := s.lru.Back(); e != nil && s.overLocked(); {
		h := e.Value.(*handle)
		prev := e.Prev()
		if h.refs == 0 {
			s.forgetLocked(h)
			_ = h.close() // an idle handle has no transaction to lose
		}
		e = prev
	}
}

// overLocked reports whether the open handles are over either bound.
func (s *Store) overLocked() bool {
	return len(s.handles) > s.cfg.MaxOpen || s.bytes > s.cfg.MaxOpenBytes
}

// forgetLocked takes h out of the pool and its memory out of the total.
func (s *Store) forgetLocked(h *handle) {
	s.lru.Remove(h.elem)
	delete(s.handles, h.name)
	s.bytes -= h.counted
	h.counted = 0
}

// replace puts the database file at name in object's place. The store
// stays locked throughout, so no one opens the object's old file
// meanwhile; a user waiting for the old handle finds it closed and opens
// the new file.
func (s *Store) replace(object, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if h, ok := s.handles[object]; ok {
		s.forgetLocked(h)
		h.mu.Lock() // its user unlocks it before taking s.mu in release
		err := h.close()
		h.mu.Unlock()
		if err != nil {
			return err
		}
		// A DigestCommitted that pinned it may be copying its files.
		h.files.Lock()
		defer h.files.Unlock()
	}
	delete(s.expect, object) // the new file's position is its own
	path := s.Path(object)
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(name, path)
}
