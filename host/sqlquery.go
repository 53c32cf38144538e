package host

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/sqlstore"
)

// ErrNotSQL: the class's objects are not SQLite-backed (it is not listed
// under new_sqlite_classes), so they have no database to query.
var ErrNotSQL = errors.New("the class is not SQLite-backed")

// SQLQuery is an operator's read-only query of one SQLite-backed object.
type SQLQuery struct {
	SQL    string
	Params []any // nil, int64, float64, string or []byte
	// Limits bound the rows returned; zero fields take
	// DefaultSQLQueryLimits'.
	Limits sqlstore.QueryLimits
}

// DefaultSQLQueryLimits bound an operator's query's answer.
var DefaultSQLQueryLimits = sqlstore.QueryLimits{Rows: 1000, Bytes: 4 << 20}

// SQLAnswer is what a query returned; More says it had rows past the
// limits.
type SQLAnswer struct {
	Columns  []string
	Rows     [][]any
	RowsRead int64
	More     bool
}

// QuerySQL runs q on the database of object id of class (a class key)
// as this node holds it now, in a read-only session: SQLite refuses any
// statement that would write, and the session rolls back anyway. It
// waits for no read index: the caller makes the read linearizable by
// reading through the node first (api does, before it resolves the
// class), and this node's databases hold every command its FSM applied.
// sqlstore.ErrNoDatabase when nothing was ever written to the object.
// ErrClassNotFound when the class is not there, ErrNotSQL
// when it is not SQLite-backed; an *sqlstore.Error is the statement's
// fault (refused, a syntax error, a limit).
func (h *Host) QuerySQL(class, id string, q SQLQuery) (*SQLAnswer, error) {
	if !h.sqlClass(class) {
		if _, ok := h.source(class); !ok {
			return nil, fmt.Errorf("%w: %s", ErrClassNotFound, class)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotSQL, class)
	}
	store := h.node.FSM().SQL()
	if store == nil {
		return nil, errors.New("this node keeps no SQLite databases")
	}
	lim := q.Limits
	if lim.Rows <= 0 {
		lim.Rows = DefaultSQLQueryLimits.Rows
	}
	if lim.Bytes <= 0 {
		lim.Bytes = DefaultSQLQueryLimits.Bytes
	}
	object := fsm.ClassObject(class, id)
	// Opening a database creates it: on this node alone, which the
	// others would not hold.
	exists, err := store.Exists(object)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, sqlstore.ErrNoDatabase
	}
	env := sqlstore.Env{Seed: rand.Uint64(), Now: time.Now().UTC()}
	sess, err := store.BeginRead(object, env)
	if err != nil {
		return nil, err
	}
	defer sess.Rollback()
	res, more, err := sess.Query(q.SQL, q.Params, lim)
	if err != nil {
		return nil, err
	}
	return &SQLAnswer{Columns: res.Columns, Rows: res.Rows, RowsRead: res.RowsRead, More: more}, nil
}

// SQLObject is an object that has a database on this node: its FSM name
// (fsm.ClassObject's), its class key and id, and its database's size.
type SQLObject struct {
	Object string
	Class  string
	ID     string
	Bytes  int64
}

// SQLObjects lists the objects whose names start with prefix and sort
// after startAfter that have a database, in name order, at most limit of
// them; more says there are others. It reads this node's state as it is:
// the caller makes it linearizable by reading through the node first.
func (h *Host) SQLObjects(prefix, startAfter string, limit int) (out []SQLObject, more bool, err error) {
	store := h.node.FSM().SQL()
	if store == nil {
		return nil, false, nil
	}
	for _, name := range h.node.FSM().SQLObjects() {
		if name <= startAfter || !strings.HasPrefix(name, prefix) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		class, id, _ := fsm.SplitClassObject(name)
		n, err := store.DatabaseSize(name)
		if err != nil {
			return nil, false, err
		}
		out = append(out, SQLObject{Object: name, Class: class, ID: id, Bytes: n})
	}
	return out, false, nil
}
