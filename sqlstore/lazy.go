package sqlstore

import (
	"fmt"
	"slices"

	"github.com/ncruces/go-sqlite3"
)

// A session that only gets and puts key-value pairs need not open a
// transaction on the leader at all: a call such as the seed's counter
// (get a key, put it back one higher) reads what is committed and writes
// nothing that a later statement of the same call reads through SQLite.
// So a session begins its SQLite transaction lazily (ensure): until a
// statement, a list, a savepoint or a write that might not fit needs it,
// its key-value writes are kept in pending and its log, and its reads
// are answered from pending, then from the handle's cache of committed
// pairs, then by a read of the committed table outside any transaction
// (the session holds the handle, so nothing commits meanwhile). Whatever
// needs SQLite later begins the transaction and replays pending into it
// first, so it sees the call's writes as before. The log, and so the
// command every replica applies, is the same either way.
//
// The cache holds the committed value (or absence) of a few keys of each
// open database: it is filled by those reads and kept current by Apply,
// after its commit, for the keys it holds; a database's cache goes with
// its handle (closed, replaced). Only the store's key-value writes change
// _cf_KV (the authorizer keeps user SQL, triggers included, out of it),
// so Apply sees every change. It is bounded (kvCacheKeys keys and values
// of at most kvCacheValueBytes each): at most 8 KiB a handle beside at
// least half a megabyte of its SQLite, so the pool's memory bound does
// not count it.

const (
	kvCacheKeys       = 16
	kvCacheValueBytes = 256
)

// cachedKV is a key's committed value, or its absence (!ok).
type cachedKV struct {
	value []byte
	ok    bool
}

// cacheKV records key's committed value, if small enough (a full cache
// starts over).
func (h *handle) cacheKV(key string, value []byte, ok bool) {
	if len(value) > kvCacheValueBytes || len(key) > kvCacheValueBytes {
		delete(h.kv, key)
		return
	}
	if h.kv == nil || len(h.kv) >= kvCacheKeys {
		h.kv = make(map[string]cachedKV, kvCacheKeys)
	}
	h.kv[key] = cachedKV{value: slices.Clone(value), ok: ok}
}

// appliedKV brings the cache and the size bound up to date with a log
// just committed: each key-value write to a cached key, in order.
func (h *handle) appliedKV(log []Statement) {
	h.grewBy(log)
	if len(h.kv) == 0 {
		return
	}
	for _, st := range log {
		switch st.Op {
		case OpPut:
			key, _ := st.Args[0].(string)
			value, _ := st.Args[1].([]byte)
			if _, ok := h.kv[key]; ok {
				h.cacheKV(key, value, true)
			}
		case OpDelete:
			key, _ := st.Args[0].(string)
			if _, ok := h.kv[key]; ok {
				h.kv[key] = cachedKV{}
			}
		case OpDeleteAll:
			clear(h.kv)
		}
	}
}

// committedKV reads key's committed value, from the cache or the table,
// with no transaction of the session's open.
func (h *handle) committedKV(key string) ([]byte, bool, error) {
	if c, ok := h.kv[key]; ok {
		return slices.Clone(c.value), c.ok, nil
	}
	v, ok, err := h.readKV(key)
	if err != nil {
		return nil, false, err
	}
	h.cacheKV(key, v, ok)
	return v, ok, nil
}

// pendingKV is a key-value write not yet run in SQLite: the value put,
// or a delete (!ok).
type pendingKV = cachedKV

// lazyGet answers Get before the transaction began.
func (sess *Session) lazyGet(key string) ([]byte, bool, error) {
	if p, ok := sess.pending[key]; ok {
		return slices.Clone(p.value), p.ok, nil
	}
	return sess.h.committedKV(key)
}

// deferWrite keeps st (a put or delete of key-value pairs taking bytes)
// for later instead of running it, if it cannot fail in SQLite: it is
// within the row limit and the database cannot reach its size limit by
// it. It reports whether it did.
func (sess *Session) deferWrite(st Statement, bytes int) bool {
	lim := sess.st.cfg.Limits
	if bytes+rowOverhead > lim.RowBytes {
		return false
	}
	need := growthBound(bytes, sess.h.pageBytes)
	if !sess.roomKnown {
		sess.room = lim.DatabaseBytes - sess.h.sizeBound(lim.DatabaseBytes, need)
		sess.roomKnown = true
	}
	if need > sess.room {
		return false
	}
	sess.room -= need
	if sess.pending == nil {
		sess.pending = map[string]pendingKV{}
	}
	key := st.Args[0].(string)
	if st.Op == OpPut {
		sess.pending[key] = pendingKV{value: st.Args[1].([]byte), ok: true}
	} else {
		sess.pending[key] = pendingKV{}
	}
	sess.log = append(sess.log, st)
	return true
}

// rowOverhead is more than a _cf_KV row takes beside its key and value
// (a record header of a few varints).
const rowOverhead = 64

// growthBound is more than a key-value write of bytes can grow a
// database by, in bytes: twice its overflow pages, and a page for each of
// 48 levels of page splits, more levels than a b-tree of the largest
// database SQLite allows has.
func growthBound(bytes int, pageBytes int64) int64 {
	return 2*int64(bytes) + 48*pageBytes
}

// sizeBound is at least the database's size in bytes as its size limit
// counts it (all its pages): the bound Apply kept up (sizeHint), or,
// when that is not known or leaves too little room for need, the size
// read afresh. The session has not begun, so this is what is committed.
func (h *handle) sizeBound(limit, need int64) int64 {
	if h.sizeHint == 0 || h.sizeHint+need > limit {
		h.sizeHint = 0
		var pages int64
		if _, err := h.internalQuery("PRAGMA page_count", func(st *sqlite3.Stmt) error {
			pages = st.ColumnInt64(0)
			return nil
		}); err != nil {
			return limit // unknown: defer nothing
		}
		h.sizeHint = max(pages*h.pageBytes, 1)
	}
	return h.sizeHint
}

// grewBy keeps sizeHint a bound on the database's size after log, just
// committed: each key-value write can grow it by its growthBound; what
// else the log did, it does not know.
func (h *handle) grewBy(log []Statement) {
	for _, st := range log {
		if h.sizeHint == 0 {
			return
		}
		switch st.Op {
		case OpPut:
			key, _ := st.Args[0].(string)
			value, _ := st.Args[1].([]byte)
			h.sizeHint += growthBound(len(key)+len(value), h.pageBytes)
		case OpDelete:
			key, _ := st.Args[0].(string)
			h.sizeHint += growthBound(len(key), h.pageBytes)
		default:
			h.sizeHint = 0
		}
	}
}

// ensure begins the session's transaction if it has not begun, under the
// size limit, and runs the deferred writes in it.
func (sess *Session) ensure() error {
	if sess.begun {
		return nil
	}
	h := sess.h
	pages := sess.st.cfg.Limits.DatabaseBytes / h.pageBytes
	if err := h.setMaxPages(max(pages, 1)); err != nil {
		return err
	}
	if err := h.internalExec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	h.sizeLimit = sess.st.cfg.Limits.DatabaseBytes
	sess.begun = true
	sess.pending = nil
	for _, st := range sess.log { // puts and deletes, each sure to fit
		if err := h.replayKV(st); err != nil {
			_ = h.internalExec("ROLLBACK")
			sess.ended = fmt.Errorf("%w: the call's key-value writes could not be run: %w", ErrSessionDone, err)
			return sess.ended
		}
	}
	return nil
}
