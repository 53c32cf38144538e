package sqlstore

import (
	"errors"
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3"
)

// ErrNoDatabase says that an object has no database on this node
// (Exists is false): nothing was ever written to it. The store does not
// return it itself; it is for the readers that check Exists first.
var ErrNoDatabase = errors.New("sqlstore: the object has no database")

// Exists reports whether object has a database on this node. An
// operator's read must not create one (opening a handle creates the
// file), or a replica would hold a database the others lack.
func (s *Store) Exists(object string) (bool, error) {
	s.mu.Lock()
	_, open := s.handles[object]
	s.mu.Unlock()
	if open {
		return true, nil
	}
	_, err := os.Stat(s.Path(object))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// QueryLimits bound what Query returns: at most Rows rows, and no row
// more once the values returned add up to Bytes. Neither may the values
// go over the store's Limits.ResultBytes: the answer stops before the row
// that would take them over it, and a first row over it alone fails the
// query, as such a result fails a session's Exec.
type QueryLimits struct {
	Rows  int
	Bytes int
}

// Query runs one read-only statement in a session begun with BeginRead
// (an operator's query) and returns at most lim's rows; more says that the
// statement had rows past them. The statement is SQLite's to judge:
// one that SQLite does not report as read-only is refused (ErrRefused)
// before it runs, and the session's transaction is rolled back anyway.
// Cloudflare's restrictions hold as in Exec.
func (sess *Session) Query(query string, args []any, lim QueryLimits) (res *Result, more bool, err error) {
	if sess.ended != nil {
		return nil, false, sess.ended
	}
	if !sess.readOnly {
		return nil, false, errors.New("sqlstore: Query needs a session begun with BeginRead")
	}
	if n := sess.st.cfg.Limits.StatementBytes; len(query) > n {
		return nil, false, &Error{Code: sqlite3.TOOBIG, kind: ErrLimit,
			Msg: fmt.Sprintf("statement of %d bytes is over the limit of %d bytes", len(query), n)}
	}
	norm := make([]any, len(args))
	for i, a := range args {
		if norm[i], err = normalize(a); err != nil {
			return nil, false, err
		}
	}
	h := sess.h
	st, tail, cached, err := h.prepare(query)
	if err != nil {
		return nil, false, err
	}
	if st == nil {
		return nil, false, &Error{Code: sqlite3.MISUSE, Msg: "the query is empty"}
	}
	defer closeUncached(st, cached)
	switch {
	case !isBlank(tail):
		return nil, false, &Error{Code: sqlite3.MISUSE, Msg: "one statement at a time: the query has more than one"}
	case !st.ReadOnly():
		return nil, false, errReadOnly()
	case st.BindCount() != len(norm):
		return nil, false, &Error{Code: sqlite3.RANGE, Msg: fmt.Sprintf("wrong number of bindings: the statement takes %d, %d given", st.BindCount(), len(norm))}
	}
	h.setStatement(sess.env, readStream(sess.reads))
	sess.reads++
	return h.runBounded(st, norm, lim, sess.st.cfg.Limits.ResultBytes)
}

// runBounded binds args to st and steps it until lim is reached; more
// reports a row past it. The last row may take the values over
// lim.Bytes, never over maxBytes: that row is left out (more), or, the
// first, fails the query (errResultTooBig).
func (h *handle) runBounded(st *sqlite3.Stmt, args []any, lim QueryLimits, maxBytes int64) (*Result, bool, error) {
	defer st.Reset()
	if err := bindAll(st, args); err != nil {
		return nil, false, err
	}
	n := st.ColumnCount()
	res := &Result{Columns: make([]string, n), Rows: [][]any{}}
	for i := range n {
		res.Columns[i] = st.ColumnName(i)
	}
	bytes, more := 0, false
	for st.Step() {
		if len(res.Rows) >= lim.Rows || bytes >= lim.Bytes {
			more = true
			break
		}
		row := make([]any, n)
		for i := range n {
			row[i] = columnValue(st, i)
			bytes += valueBytes(row[i])
		}
		if int64(bytes) > maxBytes {
			if len(res.Rows) == 0 {
				return nil, false, errResultTooBig(maxBytes)
			}
			more = true
			break
		}
		res.Rows = append(res.Rows, row)
	}
	if err := st.Err(); err != nil {
		return nil, false, h.explain(err)
	}
	res.RowsRead = max(int64(st.Status(sqlite3.STMTSTATUS_FULLSCAN_STEP, true)), int64(len(res.Rows)))
	return res, more, nil
}

// valueBytes is about what v takes in an answer.
func valueBytes(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	}
	return 8
}
