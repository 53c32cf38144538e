package classes

import (
	"encoding/json"
	"errors"
	"math/big"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/dop251/goja"
)

// SQLite-backed objects (issue 22): ctx.storage.sql, ctx.storage.kv and
// transactionSync, and the asynchronous key-value API of such an object,
// run on the SQLSession the host hands out through SQLState. The
// JavaScript half is js/sql.js; the storage natives of storage.go branch
// here when the call's State is an SQLState.

// SQLSession is an SQLite-backed object's storage for one stretch of a call
// (a *sqlstore.Session satisfies it).
type SQLSession interface {
	Exec(query string, args ...any) (*sqlstore.Result, error)
	DatabaseSize() (int64, error)
	Get(key string) ([]byte, bool, error)
	Put(key string, value []byte) error
	Delete(key string) (bool, error)
	DeleteAll() (int64, error)
	List(opts sqlstore.ListOptions) ([]sqlstore.Entry, error)
	// Savepoint, Release and RollbackTo nest (transactionSync, storage.transaction);
	// sqljs adds them to sqlstore.Session, logged so replay does the same.
	Savepoint() (int, error)
	Release(sp int) error
	RollbackTo(sp int) error
}

// SQLState is a State whose object is SQLite-backed (its class is listed under
// new_sqlite_classes). The engine calls SQL() at every storage operation and never
// keeps the result across a commit (the host may replace the session when the
// call's writes so far are committed, e.g. at a reentrant await).
type SQLState interface {
	State
	SQL() SQLSession
}

var _ SQLSession = (*sqlstore.Session)(nil)

// sql is the call's SQL session, nil when its object is not SQLite-backed.
func (c *call) sql() SQLSession {
	if s, ok := c.state.(SQLState); ok {
		return s.SQL()
	}
	return nil
}

// sqlBacked reports whether the call's object is SQLite-backed, without
// asking the State for a session.
func (c *call) sqlBacked() bool {
	_, ok := c.state.(SQLState)
	return ok
}

// mustSQL is the running call's SQL session; it throws for an object that
// is not SQLite-backed.
func (vm *vm) mustSQL() SQLSession {
	s := vm.mustCall().sql()
	if s == nil {
		vm.throw(vm.hooks.errorCtor, ErrNotSQLite)
	}
	return s
}

// sqlThrow throws err as the Error a class sees: SQLite's message, and
// the reason of a restriction or limit, as sqlstore words them.
func (vm *vm) sqlThrow(err error) {
	vm.throw(vm.hooks.errorCtor, err)
}

// sqlExec(query, ...bindings) runs query and returns what js/sql.js
// makes a cursor of: [columnNames, rows (arrays), rowsRead, rowsWritten].
func (vm *vm) sqlExec(fc goja.FunctionCall) goja.Value {
	s := vm.mustSQL()
	query := fc.Argument(0).String()
	args := make([]any, 0, len(fc.Arguments)-1)
	for i := 1; i < len(fc.Arguments); i++ {
		args = append(args, vm.sqlBinding(i, fc.Arguments[i]))
	}
	res, err := s.Exec(query, args...)
	if err != nil {
		vm.sqlThrow(err)
	}
	names := make([]any, len(res.Columns))
	for i, n := range res.Columns {
		names[i] = n
	}
	rows := make([]any, len(res.Rows))
	for i, row := range res.Rows {
		vals := make([]any, len(row))
		for j, v := range row {
			vals[j] = vm.sqlValue(v)
		}
		rows[i] = vm.rt.NewArray(vals...)
	}
	return vm.rt.NewArray(vm.rt.NewArray(names...), vm.rt.NewArray(rows...), res.RowsRead, res.RowsWritten)
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER.
const maxSafeInteger = 1<<53 - 1

// sqlBinding converts binding i of exec as Cloudflare does: a number is
// a REAL (workerd binds every number as a double: SELECT ? / 2 with 5 is
// 2.5; an INTEGER column stores an integral one as an INTEGER), a string
// TEXT, an ArrayBuffer a BLOB (js/sql.js turns views into one), null or
// undefined NULL. dobj also binds a boolean as the INTEGER 1 or 0 (as D1
// does) and a BigInt as an INTEGER, for integers past 2^53.
func (vm *vm) sqlBinding(i int, v goja.Value) any {
	switch {
	case v == nil || goja.IsUndefined(v) || goja.IsNull(v):
		return nil
	case goja.IsNumber(v):
		return v.ToFloat()
	case goja.IsString(v):
		return v.String()
	}
	switch x := v.Export().(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case goja.ArrayBuffer:
		return append([]byte{}, x.Bytes()...)
	case *big.Int:
		if !x.IsInt64() {
			vm.throw(vm.hooks.rangeErrorCtor, errors.New("sql.exec: a BigInt binding is over SQLite's 64-bit integers"))
		}
		return x.Int64()
	}
	vm.typeError("sql.exec: binding %d must be a number, string, ArrayBuffer, typed array or null", i)
	return nil
}

// sqlValue is a column's value in JavaScript, as Cloudflare maps it:
// INTEGER and REAL are numbers, TEXT a string, BLOB an ArrayBuffer, NULL
// null.
func (vm *vm) sqlValue(v any) goja.Value {
	switch x := v.(type) {
	case int64:
		if x > maxSafeInteger || x < -maxSafeInteger {
			return vm.rt.ToValue(float64(x))
		}
		return vm.rt.ToValue(x)
	case float64:
		return vm.rt.ToValue(x)
	case string:
		return vm.rt.ToValue(x)
	case []byte:
		return vm.rt.ToValue(vm.rt.NewArrayBuffer(x))
	}
	return goja.Null()
}

// sqlDatabaseSize is ctx.storage.sql.databaseSize, in bytes.
func (vm *vm) sqlDatabaseSize(goja.FunctionCall) goja.Value {
	n, err := vm.mustSQL().DatabaseSize()
	if err != nil {
		vm.sqlThrow(err)
	}
	return vm.rt.ToValue(n)
}

// sqlSave is a transaction's savepoint in the session it was opened in.
type sqlSave struct {
	sess SQLSession
	sp   int
}

// sqlTxnBegin opens a savepoint for transaction token, if the object is
// SQLite-backed.
func (vm *vm) sqlTxnBegin(c *call, token int64) {
	s := c.sql()
	if s == nil {
		return
	}
	sp, err := s.Savepoint()
	if err != nil {
		vm.sqlThrow(err)
	}
	if c.sqlSaves == nil {
		c.sqlSaves = make(map[int64]sqlSave)
	}
	c.sqlSaves[token] = sqlSave{sess: s, sp: sp}
}

// sameSession reports whether a and b are one session. A session the
// host hands out may be a value of a type that cannot be compared (== of
// such interface values panics): then it cannot tell, and says yes.
func sameSession(a, b SQLSession) (same bool) {
	defer func() {
		if recover() != nil {
			same = true
		}
	}()
	return a == b
}

// sqlTxnEnd releases (commit) or rolls back transaction token's
// savepoint, if it has one. A transaction keeps the object's gate, so its
// session cannot have been replaced; if it was, the writes are beyond
// undoing and the call fails.
func (vm *vm) sqlTxnEnd(c *call, token int64, commit bool) {
	save, ok := c.sqlSaves[token]
	if !ok {
		return
	}
	delete(c.sqlSaves, token)
	if !sameSession(c.sql(), save.sess) {
		vm.throw(vm.hooks.errorCtor, errors.New("the transaction outlived its storage session"))
	}
	var err error
	if commit {
		err = save.sess.Release(save.sp)
	} else {
		err = save.sess.RollbackTo(save.sp)
	}
	if err != nil {
		vm.sqlThrow(err)
	}
}

// ---- the key-value API, on the overlay or in the object's database ----

// kvGet reads key as the call sees it.
func (vm *vm) kvGet(c *call, key string) (json.RawMessage, bool) {
	if s := c.sql(); s != nil {
		v, ok, err := s.Get(key)
		if err != nil {
			vm.sqlThrow(err)
		}
		return v, ok
	}
	return c.ov.get(c.state, key)
}

// kvPut writes key; the value is encoded as the key-value classes store
// it.
func (vm *vm) kvPut(c *call, key string, raw json.RawMessage) {
	if s := c.sql(); s != nil {
		if err := s.Put(key, raw); err != nil {
			vm.sqlThrow(err)
		}
		return
	}
	c.ov.put(key, raw)
}

// kvDelete deletes key and reports whether it was there.
func (vm *vm) kvDelete(c *call, key string) bool {
	if s := c.sql(); s != nil {
		had, err := s.Delete(key)
		if err != nil {
			vm.sqlThrow(err)
		}
		return had
	}
	return c.ov.del(c.state, key)
}

// kvList lists as the call sees it.
func (vm *vm) kvList(c *call, opts objects.ListOptions) []objects.Entry {
	s := c.sql()
	if s == nil {
		return c.ov.list(c.state, opts)
	}
	got, err := s.List(sqlstore.ListOptions{Start: opts.Start, StartAfter: opts.StartAfter, End: opts.End,
		Prefix: opts.Prefix, Limit: opts.Limit, Reverse: opts.Reverse})
	if err != nil {
		vm.sqlThrow(err)
	}
	out := make([]objects.Entry, len(got))
	for i, e := range got {
		out[i] = objects.Entry{Key: e.Key, Value: e.Value}
	}
	return out
}

// kvDeleteAll deletes everything the object stores: on a SQLite-backed
// object its tables too, as Cloudflare's deleteAll() does, and, from
// the compatibility date that says so, its alarm.
func (vm *vm) kvDeleteAll(c *call) {
	if s := c.sql(); s != nil {
		if _, err := s.DeleteAll(); err != nil {
			vm.sqlThrow(err)
		}
	} else {
		c.ov.deleteAll()
	}
	if c.deleteAllAlarm {
		c.ov.alarm = &AlarmChange{Delete: true}
	}
}

// requireSQL throws unless the call's object is SQLite-backed: the
// synchronous ctx.storage.kv is for those only.
func (vm *vm) requireSQL(goja.FunctionCall) goja.Value {
	vm.mustSQL()
	return goja.Undefined()
}
