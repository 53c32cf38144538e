package sqlstore

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// The key-value API lives in the object's own database, in _cf_KV (key
// TEXT PRIMARY KEY, value BLOB), as on Cloudflare: one transaction covers
// a call's SQL and key-value writes, and snapshots carry both. Keys sort
// by their UTF-8 bytes (TEXT's BINARY collation compares with memcmp).

// Entry is one key-value pair.
type Entry struct {
	Key   string
	Value []byte
}

// ListOptions select a range of keys, as the Durable Objects list() does:
// Start inclusive (StartAfter exclusive, if set), End exclusive, Prefix,
// at most Limit entries (0: no limit), in descending order if Reverse.
type ListOptions struct {
	Start      string
	StartAfter string
	End        string
	Prefix     string
	Limit      int
	Reverse    bool
}

// Get returns key's value, and whether it is set.
func (sess *Session) Get(key string) ([]byte, bool, error) {
	if sess.ended != nil {
		return nil, false, sess.ended
	}
	if !sess.begun {
		return sess.lazyGet(key)
	}
	return sess.h.readKV(key)
}

// readKV reads key's value from the table, as the open transaction sees
// it if there is one.
func (h *handle) readKV(key string) ([]byte, bool, error) {
	var v []byte
	n, err := h.internalQuery("SELECT value FROM _cf_KV WHERE key = ?", func(st *sqlite3.Stmt) error {
		v = st.ColumnBlob(0, []byte{})
		return nil
	}, key)
	return v, n > 0, err
}

// Put sets key to value.
func (sess *Session) Put(key string, value []byte) error {
	return sess.kvWrite(Statement{Op: OpPut, Args: []any{key, nonNil(value)}}, len(key)+len(value))
}

// Delete removes key, reporting whether it was set.
func (sess *Session) Delete(key string) (bool, error) {
	_, had, err := sess.Get(key)
	if err != nil || !had {
		return false, err
	}
	return true, sess.kvWrite(Statement{Op: OpDelete, Args: []any{key}}, len(key))
}

// DeleteAll deletes everything the object stores, as deleteAll() does on
// a SQLite-backed object: its tables, indexes, views and triggers, and
// every key-value pair. It reports how many key-value pairs there were.
func (sess *Session) DeleteAll() (int64, error) {
	if sess.ended != nil {
		return 0, sess.ended
	}
	if err := sess.ensure(); err != nil {
		return 0, err
	}
	var n int64
	_, err := sess.h.internalQuery("SELECT count(*) FROM _cf_KV", func(st *sqlite3.Stmt) error {
		n = st.ColumnInt64(0)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if sess.readOnly {
		return 0, errReadOnly()
	}
	return n, sess.kvWrite(Statement{Op: OpDeleteAll}, 0)
}

// kvWrite runs a key-value write taking bytes now, or defers it until
// the session's transaction begins (lazy.go), and logs it.
func (sess *Session) kvWrite(st Statement, bytes int) error {
	if sess.ended != nil {
		return sess.ended
	}
	if sess.readOnly {
		return errReadOnly()
	}
	if !sess.begun {
		if sess.deferWrite(st, bytes) {
			return nil
		}
		if err := sess.ensure(); err != nil {
			return err
		}
	}
	err := sess.guarded(func() error {
		if err := sess.h.replayKV(st); err != nil {
			return sess.h.explain(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sess.log = append(sess.log, st)
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// replayKV runs a key-value write, in a session or from a log.
func (h *handle) replayKV(st Statement) error {
	switch st.Op {
	case OpPut:
		if len(st.Args) != 2 {
			return fmt.Errorf("sqlstore: put takes a key and a value, got %d arguments", len(st.Args))
		}
		return h.internalExec("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", st.Args...)
	case OpDelete:
		if len(st.Args) != 1 {
			return fmt.Errorf("sqlstore: delete takes a key, got %d arguments", len(st.Args))
		}
		return h.internalExec("DELETE FROM _cf_KV WHERE key = ?", st.Args...)
	case OpDeleteAll:
		return h.wipe()
	}
	return fmt.Errorf("sqlstore: op %d is not a key-value write", st.Op)
}

// List returns the entries opts selects, in key byte order (descending if
// opts.Reverse). Like a statement's result, the entries may hold at most
// Limits.ResultBytes (keys and values): past that it fails naming the
// limit.
func (sess *Session) List(opts ListOptions) ([]Entry, error) {
	if sess.ended != nil {
		return nil, sess.ended
	}
	if err := sess.ensure(); err != nil {
		return nil, err
	}
	q, args := listQuery(opts)
	var out []Entry
	var bytes int64
	limit := sess.st.cfg.Limits.ResultBytes
	_, err := sess.h.internalQuery(q, func(st *sqlite3.Stmt) error {
		e := Entry{Key: st.ColumnText(0), Value: st.ColumnBlob(1, []byte{})}
		if bytes += int64(len(e.Key) + len(e.Value)); bytes > limit {
			return errResultTooBig(limit)
		}
		out = append(out, e)
		return nil
	}, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listQuery is the SELECT for opts. The bounds are compared as TEXT, so
// byte-wise; a prefix becomes the range [prefix, the next prefix).
func listQuery(o ListOptions) (string, []any) {
	q := "SELECT key, value FROM _cf_KV WHERE 1"
	var args []any
	switch {
	case o.StartAfter != "":
		q += " AND key > ?"
		args = append(args, o.StartAfter)
	case o.Start != "":
		q += " AND key >= ?"
		args = append(args, o.Start)
	}
	if o.End != "" {
		q += " AND key < ?"
		args = append(args, o.End)
	}
	if o.Prefix != "" {
		q += " AND key >= ?"
		args = append(args, o.Prefix)
		if next, ok := prefixEnd(o.Prefix); ok {
			q += " AND key < ?"
			args = append(args, next)
		}
	}
	if o.Reverse {
		q += " ORDER BY key DESC"
	} else {
		q += " ORDER BY key"
	}
	if o.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, int64(o.Limit))
	}
	return q, args
}

// prefixEnd is the least string greater than every string with prefix p,
// or false if there is none (p is all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// wipe drops every table and view but the store's own, and empties
// _cf_KV and the AUTOINCREMENT counters. Foreign keys are checked at
// commit, by when every table that could be referenced is gone.
func (h *handle) wipe() error {
	var drops []string
	_, err := h.internalQuery(`SELECT type, name FROM sqlite_schema
		WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_cf\_%' ESCAPE '\'
		ORDER BY type DESC, name`, func(st *sqlite3.Stmt) error {
		kind := "TABLE"
		if st.ColumnText(0) == "view" {
			kind = "VIEW"
		}
		drops = append(drops, "DROP "+kind+" IF EXISTS "+quoteIdent(st.ColumnText(1)))
		return nil
	})
	if err != nil {
		return err
	}
	if err := h.internalExec("PRAGMA defer_foreign_keys = ON"); err != nil {
		return err
	}
	for _, d := range drops {
		if err := h.internalExec(d); err != nil {
			return err
		}
	}
	if err := h.internalExec("DELETE FROM _cf_KV"); err != nil {
		return err
	}
	var seq int
	if _, err := h.internalQuery("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'", func(*sqlite3.Stmt) error { seq++; return nil }); err != nil || seq == 0 {
		return err
	}
	return h.internalExec("DELETE FROM sqlite_sequence")
}
