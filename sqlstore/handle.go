package sqlstore

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// handle is one object's open database. Its mutex serializes every use of
// the connection; the pool fields are the Store's.
type handle struct {
	name string
	path string
	elem *list.Element // guarded by Store.mu
	refs int           // guarded by Store.mu: users that pinned it
	// counted is the memory the Store's total holds for this handle
	// (guarded by Store.mu); mem is its size as last measured, by a
	// user before giving the handle back (Store.release).
	counted int64
	mem     atomic.Int64
	probe   *memoryProbe

	mu   sync.Mutex
	conn *sqlite3.Conn // nil once closed
	// files is held (taken after mu) by whatever commits, checkpoints or
	// replaces the files: DigestCommitted reads them, under RLock,
	// while a session holds mu (digestFiles).
	files sync.RWMutex
	// internal is set while the store runs its own statements (the
	// key-value table, metadata, digests): the authorizer lets them by.
	internal bool
	// refused is why the authorizer last denied a statement, so the
	// error can say it rather than SQLite's "not authorized".
	refused string
	// fixed feeds the deterministic SQL functions of the statement that
	// runs now.
	fixed fixed
	// sizeLimit is the database size limit in bytes while a session
	// runs, 0 while a command is applied (no limit).
	sizeLimit int64
	// pageBytes is the database's page size.
	pageBytes int64
	// cache holds prepared statements, user and internal, by SQL text.
	cache map[stmtKey]*sqlite3.Stmt
	// maxPages is max_page_count as last set, 0 if not known: set
	// again only when it is to change (setMaxPages).
	maxPages int64
	// appliedIdx is the applied index the database holds, read once
	// and kept up to date by Apply: no other connection writes it.
	appliedIdx   uint64
	appliedKnown bool
	// kv caches a few committed key-value pairs; sizeHint is more than
	// the database's size in bytes, 0 if not known (lazy.go).
	kv       map[string]cachedKV
	sizeHint int64
}

// setMaxPages sets max_page_count to n unless it is so already. SQLite
// does not lower it below the database's size: then it is not known to
// be n, and is set again next time, as SQLite clamps it then.
func (h *handle) setMaxPages(n int64) error {
	if h.maxPages == n {
		return nil
	}
	var got int64
	if _, err := h.internalQuery(fmt.Sprintf("PRAGMA max_page_count=%d", n), func(st *sqlite3.Stmt) error {
		got = st.ColumnInt64(0)
		return nil
	}); err != nil {
		h.maxPages = 0
		return err
	}
	h.maxPages = 0
	if got == n {
		h.maxPages = n
	}
	return nil
}

// fixed is what a command fixes for the nondeterministic SQL functions:
// random() and randomblob() draw from rng, seeded by the command's seed
// and the statement's place in its log; 'now' is the command's time.
type fixed struct {
	now time.Time
	rng *rand.Rand
}

// setStatement fixes the functions' inputs for a statement of a call
// that draws random values from stream.
func (h *handle) setStatement(env Env, stream uint64) {
	h.fixed.now = env.Now.UTC()
	h.fixed.rng = rand.New(rand.NewPCG(env.Seed, stream))
}

// openHandle opens object's database and sets it up: WAL journal, limits,
// the deterministic functions, the authorizer, the store's own tables.
func openHandle(s *Store, object string) (*handle, error) {
	h := &handle{name: object, path: s.Path(object), cache: map[stmtKey]*sqlite3.Stmt{}}
	c, err := sqlite3.OpenFlags(h.path, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", h.path, err)
	}
	h.conn = c
	if err := h.setup(s); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("sqlstore: set up %s: %w", h.path, err)
	}
	return h, nil
}

// setup configures a freshly opened connection.
func (h *handle) setup(s *Store) error {
	c := h.conn
	// A handle the pool closes leaves its log for the next open to find
	// rather than checkpointing and syncing the database on the way out:
	// an open costs what an apply does then, not a disk sync. Nothing is
	// less durable than a handle kept open (see the package doc).
	if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		return err
	}
	// The one connection a node keeps to a database locks it for good,
	// set before anything reads the file (cache_size loads the schema):
	// SQLite then keeps the log's index in this connection's memory (no
	// -shm file) and takes no lock at each transaction, which otherwise
	// is a dozen fcntl calls an increment. Nothing else opens the file
	// while the handle is open (see Freeze and DigestCommitted).
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE"); err != nil {
		return err
	}
	// A small page cache (SQLite's default is 2 MB a connection) lets a
	// node keep a thousand databases open in a few hundred MB; the
	// operating system's cache still holds what is read often.
	if err := c.Exec(fmt.Sprintf("PRAGMA cache_size=%d", -cacheKiB)); err != nil {
		return err
	}
	// WAL: commits append to the log instead of writing pages twice;
	// synchronous=NORMAL is enough because Raft's log, not this
	// file, is what makes a command durable (see the package doc).
	err := c.Exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
		CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
		CREATE TABLE IF NOT EXISTS _cf_META (key TEXT PRIMARY KEY, value) WITHOUT ROWID;`)
	if err != nil {
		return err
	}
	l := s.cfg.Limits
	c.Limit(sqlite3.LIMIT_LENGTH, l.RowBytes)
	c.Limit(sqlite3.LIMIT_SQL_LENGTH, l.StatementBytes)
	c.Limit(sqlite3.LIMIT_COLUMN, l.Columns)
	c.Limit(sqlite3.LIMIT_VARIABLE_NUMBER, l.Params)
	c.Limit(sqlite3.LIMIT_FUNCTION_ARG, l.FunctionArgs)
	c.Limit(sqlite3.LIMIT_LIKE_PATTERN_LENGTH, l.LikePattern)
	c.Limit(sqlite3.LIMIT_ATTACHED, 0)
	h.pageBytes = h.pageSize()
	if err := h.registerFunctions(s.dates, l); err != nil {
		return err
	}
	probe, err := newMemoryProbe(c)
	if err != nil {
		return err
	}
	h.probe = probe
	h.measure()
	return c.SetAuthorizer(h.authorize)
}

// cacheKiB is the page cache of each open database, in KiB, against
// SQLite's default of 2 MB: 2 MB databases read whole took 3.7 MB a
// handle with the default, 0.45 MB with this. What else a handle holds
// is its WebAssembly memory (memory.go).
const cacheKiB = 128

// measure records the connection's memory size for the pool; the
// caller holds h.
func (h *handle) measure() {
	if h.conn != nil {
		h.mem.Store(h.probe.bytes())
	}
}

// close finalizes the cached statements and closes the connection.
func (h *handle) close() error {
	if h.conn == nil {
		return nil
	}
	for _, st := range h.cache {
		_ = st.Close()
	}
	h.cache = nil
	err := h.conn.Close()
	h.conn = nil
	h.probe = nil
	return err
}

// stmtKey is a cached statement's text and whether the store prepared
// it: a user's statement never shares a cache entry with the store's
// own, which the authorizer did not check.
type stmtKey struct {
	sql      string
	internal bool
}

// prepare returns a prepared statement for the first statement of sql and
// the text after it; single statements are cached by their text.
func (h *handle) prepare(sql string) (*sqlite3.Stmt, string, bool, error) {
	key := stmtKey{sql, h.internal}
	if st, ok := h.cache[key]; ok {
		return st, "", true, nil
	}
	h.refused = ""
	st, tail, err := h.conn.Prepare(sql)
	if err != nil {
		return nil, "", false, h.explain(err)
	}
	if st == nil {
		return nil, "", false, nil
	}
	if isBlank(tail) {
		if len(h.cache) >= maxCached {
			// Make room. No cached statement is in use here: the
			// handle runs one statement at a time.
			for k, old := range h.cache {
				_ = old.Close()
				delete(h.cache, k)
				break
			}
		}
		h.cache[key] = st
		return st, "", true, nil
	}
	return st, tail, false, nil
}

// maxCached bounds a handle's statement cache.
const maxCached = 64

// isBlank reports whether the rest of a query holds no statement.
func isBlank(s string) bool {
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', ';':
		default:
			return false
		}
	}
	return true
}

// internalExec runs trusted SQL of the store itself.
func (h *handle) internalExec(sql string, args ...any) error {
	_, err := h.internalQuery(sql, func(*sqlite3.Stmt) error { return nil }, args...)
	return err
}

// internalQuery runs trusted SQL of the store itself, calling row for
// each result row; it returns the number of rows.
func (h *handle) internalQuery(sql string, row func(*sqlite3.Stmt) error, args ...any) (int, error) {
	h.internal = true
	defer func() { h.internal = false }()
	st, _, cached, err := h.prepare(sql)
	if err != nil {
		return 0, err
	}
	if !cached {
		defer st.Close()
	}
	defer st.Reset()
	if err := bindAll(st, args); err != nil {
		return 0, err
	}
	n := 0
	for st.Step() {
		n++
		if err := row(st); err != nil {
			return n, err
		}
	}
	if err := st.Err(); err != nil {
		return n, h.explain(err)
	}
	return n, nil
}
