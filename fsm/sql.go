package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"
)

// SQLite-backed objects (issue 22): an object whose class is listed under
// new_sqlite_classes keeps its storage in a database of its own, on disk,
// in Options.SQL (package sqlstore). The leader runs the call's statements
// in a session and ships what changed the database as the call's SQL
// writes; every replica re-runs them with sqlstore.Store.Apply, in the
// same Apply as the call's other effects. The FSM keeps in memory only
// the names of the objects that have a database; snapshots stream the
// databases themselves (sqlsnap.go).

// SQLWrites is a call's writes to its object's database: the statements
// that changed something, in order, and what the leader fixed for them
// (the seed of random() and randomblob(), and 'now', the leader's clock
// when the session began; the leader stamps the command with the same
// time).
type SQLWrites struct {
	Env sqlstore.Env
	Log []sqlstore.Statement
}

// sqlRecord is SQLWrites in a log entry's call body. Now is unix
// nanoseconds, so that every replica reads the same instant.
type sqlRecord struct {
	Seed uint64            `msgpack:"s,omitempty"`
	Now  int64             `msgpack:"n"`
	Log  []statementRecord `msgpack:"l"`
}

// statementRecord is sqlstore.Statement in a log entry. Args hold only
// the types sqlstore logs: nil, int64, float64, string and []byte; a
// decoded integer comes back as whatever size msgpack wrote and is
// turned back into an int64.
type statementRecord struct {
	Op   uint8  `msgpack:"o,omitempty"`
	SQL  string `msgpack:"q,omitempty"`
	Args []any  `msgpack:"a,omitempty"`
}

func sqlRecordOf(w *SQLWrites) *sqlRecord {
	if w == nil {
		return nil
	}
	r := &sqlRecord{Seed: w.Env.Seed, Now: w.Env.Now.UnixNano(), Log: make([]statementRecord, len(w.Log))}
	for i, st := range w.Log {
		r.Log[i] = statementRecord{Op: uint8(st.Op), SQL: st.SQL, Args: st.Args}
	}
	return r
}

// writes converts r back; an argument of a type sqlstore never logs is an
// undecodable entry.
func (r *sqlRecord) writes() (*SQLWrites, error) {
	if r == nil {
		return nil, nil
	}
	w := &SQLWrites{Env: sqlstore.Env{Seed: r.Seed, Now: time.Unix(0, r.Now).UTC()}, Log: make([]sqlstore.Statement, len(r.Log))}
	for i, st := range r.Log {
		var args []any
		if st.Args != nil {
			args = make([]any, len(st.Args))
			for j, a := range st.Args {
				v, err := argOf(a)
				if err != nil {
					return nil, fmt.Errorf("sql statement %d, argument %d: %w", i, j, err)
				}
				args[j] = v
			}
		}
		w.Log[i] = sqlstore.Statement{Op: sqlstore.Op(st.Op), SQL: st.SQL, Args: args}
	}
	return w, nil
}

// argOf is a decoded argument as the type sqlstore logged it.
func argOf(a any) (any, error) {
	switch v := a.(type) {
	case nil, int64, float64, string, []byte:
		return v, nil
	case int8:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint8:
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is over 64-bit signed", v)
		}
		return int64(v), nil
	case float32:
		return float64(v), nil
	}
	return nil, fmt.Errorf("a %T is not an SQL value", a)
}

// callHasSQL reports whether a KindCall body carries SQL writes, for
// Encode's choice of version: a walk of the body, without building it.
func callHasSQL(body []byte) bool {
	var probe struct {
		SQL msgpack.RawMessage `msgpack:"sql"`
	}
	if err := msgpack.NewDecoder(bytes.NewReader(body)).Decode(&probe); err != nil {
		return false
	}
	return len(probe.SQL) > 0 && !bytes.Equal(probe.SQL, []byte{0xc0})
}

// ErrSQLCallInvalid is the result of a call whose SQL writes cannot apply
// as sent (it also carries key-value ops, or its object has no place in
// the log for them); nothing was changed.
var ErrSQLCallInvalid = fmt.Errorf("%w: malformed SQL call", objects.ErrInvalid)

// sqlSeqBits is how many low bits of the position given to sqlstore hold
// the command's place in its entry (see sqlPosition).
const sqlSeqBits = 16

// sqlPosition is the place of the command being applied in the log, as
// sqlstore stores it per database: the entry's index, then the command's
// place in the entry (a batch holds several), so that two calls of one
// object in one entry both apply. It only has to grow along the log.
func sqlPosition(index uint64, seq int) (uint64, bool) {
	if seq >= 1<<sqlSeqBits || index >= 1<<(64-sqlSeqBits) {
		return 0, false
	}
	return index<<sqlSeqBits | uint64(seq), true
}

// applySQL re-runs a call's SQL writes on object's database. An error is
// sqlstore.ErrDiverged (or ErrSQLCallInvalid): the call changed nothing,
// on every replica alike. Any other failure of the store (a full disk,
// an I/O error) is this node's own: it cannot go on without diverging,
// so it panics, and on restart replays what its database lacks.
func (m *Machine) applySQL(c *Command, w *SQLWrites, index uint64) error {
	if c.V < sqlCallVersion {
		panic(fmt.Sprintf("fsm: log entry %d: a version %d call carries SQL writes", index, c.V))
	}
	if m.opts.SQL == nil {
		panic(fmt.Sprintf("fsm: log entry %d: a call of SQLite-backed object %q, but this node has no SQL store", index, c.Object))
	}
	pos, ok := sqlPosition(index, m.entrySeq)
	if !ok {
		return ErrSQLCallInvalid
	}
	if len(w.Log) == 0 {
		return nil
	}
	m.sqlObjects.ReplaceOrInsert(c.Object)
	err := m.opts.SQL.Apply(c.Object, pos, w.Env, w.Log)
	if err != nil && !errors.Is(err, sqlstore.ErrDiverged) {
		panic(fmt.Sprintf("fsm: log entry %d: the SQL store failed to apply the writes of %q: %v", index, c.Object, err))
	}
	return err
}

// newSQLObjects is the set of objects that have a database.
func newSQLObjects() *btree.BTreeG[string] {
	return btree.NewG(32, func(a, b string) bool { return a < b })
}

// SQL is the store of SQLite-backed objects' databases (Options.SQL),
// nil when the node has none.
func (m *Machine) SQL() *sqlstore.Store { return m.opts.SQL }

// SQLObjects returns the names of the objects that have a database, in
// order.
func (m *Machine) SQLObjects() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, m.sqlObjects.Len())
	m.sqlObjects.Ascend(func(o string) bool { out = append(out, o); return true })
	return out
}

// writeSQLDigest hashes the databases of the objects names lists (name and logical
// state), in order, without mu: Digest took the list at index, and
// writeSQLDigest reports false if a database had moved past that entry
// when it was hashed. Nothing is written when there is none, so the
// digests of states without SQL objects are those earlier builds gave.
func (m *Machine) writeSQLDigest(w io.Writer, names *btree.BTreeG[string], index uint64) bool {
	ok := true
	names.Ascend(func(object string) bool {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(object)))
		w.Write(n[:])
		io.WriteString(w, object)
		d, pos, err := m.opts.SQL.DigestCommitted(object)
		if m.digestHook != nil {
			m.digestHook(object)
		}
		if err != nil {
			io.WriteString(w, "unreadable: "+err.Error())
			m.opts.Logger.Error("digest of an SQL object", "object", object, "err", err)
			return true
		}
		ok = pos>>sqlSeqBits <= index // within entry index or before
		w.Write(d[:])
		return ok
	})
	return ok
}
