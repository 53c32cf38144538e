package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Env is what the leader fixes for a call and ships in its command, so
// that every replica's SQL functions return what the leader's did: Seed
// feeds random() and randomblob(), Now is 'now' for datetime('now'),
// CURRENT_TIMESTAMP and the rest.
type Env struct {
	Seed uint64
	Now  time.Time
}

// Op is what a Statement of a log does.
type Op uint8

const (
	OpSQL       Op = iota // run SQL with Args
	OpPut                 // key-value put: Args are key (string) and value ([]byte)
	OpDelete              // key-value delete: Args is the key
	OpDeleteAll           // delete everything: every table, index, view and trigger, and every key-value pair
	OpSavepoint           // open savepoint Args[0] (an integer, its nesting depth)
	OpRelease             // release savepoint Args[0] and those inside it
)

// Statement is one write of a call, as replicas re-run it. Read-only
// statements are not logged: they change nothing.
type Statement struct {
	Op   Op
	SQL  string
	Args []any
}

// Result is what one Exec returns: the last statement's columns and rows,
// and the rows read and written by all of its statements.
type Result struct {
	Columns     []string
	Rows        [][]any
	RowsRead    int64
	RowsWritten int64
}

// ErrSessionDone is returned by a Session's methods after Rollback, or
// after SQLite ended its transaction on an error (then wrapped with why).
var ErrSessionDone = errors.New("sqlstore: session ended")

// Session is a call running on the leader: its statements run at once,
// inside one transaction, so the call sees its own writes; its writes are
// logged for the Raft command; Rollback then leaves the database as it
// was, and Apply makes the writes for good, on every replica alike.
//
// The handle stays locked from Begin to Rollback: Apply and other
// sessions of the same object wait. The caller must Begin only once every
// command it proposed for the object earlier has been applied, or the
// session would see a state the replicas will not.
type Session struct {
	st       *Store
	h        *handle
	env      Env
	reads    int  // read-only statements run, for their random() streams
	readOnly bool // BeginRead: writes are refused
	log      []Statement
	// saves are the open savepoints, outermost first: each is where the
	// log was when it opened (savepoint.go).
	saves []int
	ended error
	// begun: the transaction is open in SQLite. Until then the
	// session's key-value writes are pending, with room the bytes they
	// may still grow the database by, once known (lazy.go).
	begun     bool
	pending   map[string]pendingKV
	room      int64
	roomKnown bool
}

// Begin starts a session on object with the values the call fixes. Its
// transaction begins with the first thing that needs it (lazy.go).
func (s *Store) Begin(object string, env Env) (*Session, error) {
	h, err := s.acquire(object)
	if err != nil {
		return nil, err
	}
	return &Session{st: s, h: h, env: env}, nil
}

// BeginRead starts a session that only reads, for operators' queries
// and reads served without a Raft command: a write is refused with
// ErrRefused. Its transaction is deferred, so it takes no write lock.
func (s *Store) BeginRead(object string, env Env) (*Session, error) {
	h, err := s.acquire(object)
	if err != nil {
		return nil, err
	}
	if err := h.internalExec("BEGIN"); err != nil {
		s.release(h)
		return nil, err
	}
	return &Session{st: s, h: h, env: env, readOnly: true, begun: true}, nil
}

// errReadOnly is what a read-only session says of a write.
func errReadOnly() error {
	return &Error{Code: sqlite3.READONLY, kind: ErrRefused, Msg: "this session only reads: writes are not allowed"}
}

// Exec runs query (one statement, or several separated by semicolons)
// with args bound to the one statement that has parameters. A statement
// that fails changes nothing and is not logged; the session goes on.
func (sess *Session) Exec(query string, args ...any) (*Result, error) {
	if sess.ended != nil {
		return nil, sess.ended
	}
	if err := sess.ensure(); err != nil {
		return nil, err
	}
	if n := sess.st.cfg.Limits.StatementBytes; len(query) > n {
		return nil, &Error{Code: sqlite3.TOOBIG, kind: ErrLimit,
			Msg: fmt.Sprintf("statement of %d bytes is over the limit of %d bytes", len(query), n)}
	}
	norm := make([]any, len(args))
	for i, a := range args {
		v, err := normalize(a)
		if err != nil {
			return nil, err
		}
		norm[i] = v
	}
	return sess.execAll(query, norm)
}

// execAll runs each statement of query in turn. As on Cloudflare, the
// bindings are the last statement's: an earlier one with parameters is
// refused, before it runs.
func (sess *Session) execAll(query string, args []any) (*Result, error) {
	res := &Result{}
	for rest := query; !isBlank(rest); {
		st, tail, cached, err := sess.h.prepare(rest)
		if err != nil {
			return nil, err
		}
		if st == nil {
			break
		}
		var use []any
		if n := st.BindCount(); n > 0 || len(args) > 0 {
			if sess.h.hasStatement(tail) {
				if n > 0 {
					closeUncached(st, cached)
					return nil, &Error{Code: sqlite3.RANGE, Msg: "When executing multiple SQL statements in a single call, only the last statement can have parameters"}
				}
			} else {
				use = args
			}
		}
		// The statement's own text: a Stmt's SQL() is all the text it
		// was prepared from, the statements after it included.
		text := strings.TrimSpace(rest[:len(rest)-len(tail)])
		one, err := sess.execOne(st, text, use)
		closeUncached(st, cached)
		if err != nil {
			return nil, err
		}
		res.Columns, res.Rows = one.Columns, one.Rows
		res.RowsRead += one.RowsRead
		res.RowsWritten += one.RowsWritten
		rest = tail
	}
	return res, nil
}

// hasStatement reports whether sql holds a statement, not only blanks
// and comments. One that does not compile yet (its table is made by an
// earlier statement of the query) is a statement too.
func (h *handle) hasStatement(sql string) bool {
	if isBlank(sql) {
		return false
	}
	st, _, cached, err := h.prepare(sql)
	if err != nil {
		return true
	}
	if st == nil {
		return false
	}
	closeUncached(st, cached)
	return true
}

func closeUncached(st *sqlite3.Stmt, cached bool) {
	if !cached {
		_ = st.Close()
	}
}

// execOne runs one prepared statement. A write is guarded so that, if it
// fails, it leaves nothing behind (not even the partial work of an OR
// FAIL), and the log holds exactly the writes that took effect.
func (sess *Session) execOne(st *sqlite3.Stmt, text string, args []any) (*Result, error) {
	h := sess.h
	if n := st.BindCount(); n != len(args) {
		return nil, &Error{Code: sqlite3.RANGE, Msg: fmt.Sprintf("Wrong number of parameter bindings for SQL query: the statement takes %d, %d given", n, len(args))}
	}
	readOnly := st.ReadOnly()
	if !readOnly && sess.readOnly {
		return nil, errReadOnly()
	}
	if readOnly {
		h.setStatement(sess.env, readStream(sess.reads))
		sess.reads++
	} else {
		h.setStatement(sess.env, writeStream(len(sess.log)))
	}
	limit := sess.st.cfg.Limits.ResultBytes
	if readOnly {
		return h.run(st, args, limit)
	}
	var res *Result
	err := sess.guarded(func() (err error) {
		res, err = h.run(st, args, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	sess.log = append(sess.log, Statement{Op: OpSQL, SQL: text, Args: args})
	return res, nil
}

// guarded runs a write so that, if it fails, nothing of it is left: in a
// savepoint, or, as the transaction's first write (the log empty), with
// the transaction to undo instead.
func (sess *Session) guarded(write func() error) error {
	h := sess.h
	first := len(sess.log) == 0
	if !first {
		if err := h.internalExec("SAVEPOINT dobj_stmt"); err != nil {
			return err
		}
	}
	if err := write(); err != nil {
		return sess.undo(err, first)
	}
	if !first {
		if err := h.internalExec("RELEASE dobj_stmt"); err != nil {
			return sess.undo(err, false)
		}
	}
	return nil
}

// writeStream is the random() stream of the log's statement i: the
// same on the leader and on every replica that re-runs it.
func writeStream(i int) uint64 { return 2 * uint64(i) }

// readStream is the random() stream of the call's read-only statement i,
// apart from every write's so a call does not see the values a later
// write draws.
func readStream(i int) uint64 { return 2*uint64(i) + 1 }

// undo rolls a failed write back to its savepoint, or, for the
// transaction's first write (first: no savepoint), the transaction. Some
// errors (SQLITE_FULL at the size limit among them) make SQLite roll back
// the whole transaction itself. Either way the session then begins a new
// one and replays its log, which ends where the call was before the
// failed write, since the log is deterministic. Only if that fails does
// the session end.
func (sess *Session) undo(cause error, first bool) error {
	h := sess.h
	if first && !h.conn.GetAutocommit() {
		if err := h.internalExec("ROLLBACK"); err != nil {
			sess.ended = fmt.Errorf("%w: the transaction could not be rolled back: %w", ErrSessionDone, errors.Join(cause, err))
			return cause
		}
	}
	if h.conn.GetAutocommit() {
		if err := sess.restart(); err != nil {
			sess.ended = fmt.Errorf("%w: the transaction was rolled back by: %w", ErrSessionDone, errors.Join(cause, err))
		}
		return cause
	}
	if err := h.internalExec("ROLLBACK TO dobj_stmt"); err != nil {
		return errors.Join(cause, err)
	}
	if err := h.internalExec("RELEASE dobj_stmt"); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// restart begins the session's transaction again and replays its log.
func (sess *Session) restart() error {
	h := sess.h
	if err := h.internalExec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if _, err := h.applyLog(0, sess.env, sess.log); err != nil {
		if !h.conn.GetAutocommit() {
			_ = h.internalExec("ROLLBACK")
		}
		return err
	}
	return nil
}

// keepNone is run's maxBytes for a statement whose rows nobody reads
// (replay): it steps to the end and keeps none.
const keepNone = -1

// run binds args to st and steps it to the end, keeping its rows while
// their values hold at most maxBytes (as valueBytes counts them): past
// that it fails with an error naming the limit (wrapping ErrLimit),
// having kept no more than one row over it. A write it stopped is the
// caller's to undo (guarded): SQLite made its changes at the first step.
func (h *handle) run(st *sqlite3.Stmt, args []any, maxBytes int64) (*Result, error) {
	defer st.Reset()
	if err := bindAll(st, args); err != nil {
		return nil, h.explain(err)
	}
	before := h.conn.TotalChanges()
	n := st.ColumnCount()
	res := &Result{Columns: make([]string, n)}
	for i := range n {
		res.Columns[i] = st.ColumnName(i)
	}
	var rows, bytes int64
	for st.Step() {
		rows++
		if maxBytes == keepNone {
			continue
		}
		row := make([]any, n)
		for i := range n {
			row[i] = columnValue(st, i)
			bytes += int64(valueBytes(row[i]))
		}
		if bytes > maxBytes {
			return nil, errResultTooBig(maxBytes)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := st.Err(); err != nil {
		return nil, h.explain(err)
	}
	res.RowsWritten = h.conn.TotalChanges() - before
	// SQLite counts no rows read; rows a full scan stepped over, or the
	// rows returned if more, is the estimate Cloudflare's figure tracks.
	res.RowsRead = max(int64(st.Status(sqlite3.STMTSTATUS_FULLSCAN_STEP, true)), rows)
	return res, nil
}

// errResultTooBig is what a statement whose result is over the limit of
// limit bytes fails with.
func errResultTooBig(limit int64) error {
	return &Error{Code: sqlite3.TOOBIG, kind: ErrLimit,
		Msg: fmt.Sprintf("result size limit of %d bytes reached: the statement's rows hold more, read them in pages with LIMIT", limit)}
}

// Log is the session's writes so far, in order, for the Raft command.
func (sess *Session) Log() []Statement {
	return append([]Statement(nil), sess.log...)
}

// Env is the values the session was begun with.
func (sess *Session) Env() Env { return sess.env }

// Rollback undoes the session's writes and frees the object's handle. It
// is idempotent.
func (sess *Session) Rollback() error {
	if sess.h == nil {
		return nil
	}
	h := sess.h
	sess.h = nil
	if sess.ended == nil {
		sess.ended = ErrSessionDone
	}
	var err error
	if !h.conn.GetAutocommit() {
		err = h.internalExec("ROLLBACK")
	}
	h.sizeLimit = 0
	sess.st.release(h)
	return err
}

// DatabaseSize is the size of the session's database now, its own
// uncommitted writes included, as ctx.storage.sql.databaseSize reports.
func (sess *Session) DatabaseSize() (int64, error) {
	if sess.ended != nil {
		return 0, sess.ended
	}
	if err := sess.ensure(); err != nil {
		return 0, err
	}
	return sess.h.size()
}

// pageSize is the database's page size in bytes.
func (h *handle) pageSize() int64 {
	var n int64 = 4096
	_, _ = h.internalQuery("PRAGMA page_size", func(st *sqlite3.Stmt) error {
		n = st.ColumnInt64(0)
		return nil
	})
	return n
}

// size is the database's size in bytes as Cloudflare reports it: the
// pages in use (not those on the free list, which the next writes reuse)
// times their size, so it shrinks when rows are deleted.
func (h *handle) size() (int64, error) {
	var n int64
	_, err := h.internalQuery("SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()", func(st *sqlite3.Stmt) error {
		n = st.ColumnInt64(0)
		return nil
	})
	return n, err
}

// DatabaseSize is object's database size in bytes.
func (s *Store) DatabaseSize(object string) (int64, error) {
	h, err := s.acquire(object)
	if err != nil {
		return 0, err
	}
	defer s.release(h)
	return h.size()
}
