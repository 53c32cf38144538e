package sqlstore

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"
)

// nowFormat is how the command's time replaces 'now': SQLite's own
// millisecond precision, in UTC.
const nowFormat = "2006-01-02 15:04:05.000"

// dateFunc is one of SQLite's date and time functions, overridden so
// that 'now' is the command's time: timeArgs are the positions of its
// time values, and whether it takes modifiers after them.
type dateFunc struct {
	name      string
	nArg      int   // -1: any number
	timeArgs  []int // positions of time values; a missing one means 'now'
	modifiers bool
}

var dateFuncs = []dateFunc{
	{"date", -1, []int{0}, true},
	{"time", -1, []int{0}, true},
	{"datetime", -1, []int{0}, true},
	{"julianday", -1, []int{0}, true},
	{"unixepoch", -1, []int{0}, true},
	{"strftime", -1, []int{1}, true},
	{"timediff", 2, []int{0, 1}, false},
	{"current_date", 0, nil, false},
	{"current_time", 0, nil, false},
	{"current_timestamp", 0, nil, false},
}

// builtinOf is the built-in function an override evaluates with 'now'
// replaced: CURRENT_TIMESTAMP is datetime('now'), and so on.
var builtinOf = map[string]string{
	"current_date": "date", "current_time": "time", "current_timestamp": "datetime",
}

// registerFunctions overrides SQLite's nondeterministic functions on the
// connection with ones fed by the command (h.fixed). A function an
// application defines takes precedence over the built-in of that name,
// CURRENT_TIMESTAMP and its kin included (the parser turns them into
// calls of functions so named).
func (h *handle) registerFunctions(d *dateHelper, l Limits) error {
	const flags = sqlite3.INNOCUOUS
	err := h.conn.CreateFunction("random", 0, flags, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
		ctx.ResultInt64(int64(h.fixed.rng.Uint64()))
	})
	if err != nil {
		return err
	}
	err = h.conn.CreateFunction("randomblob", 1, flags, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
		n := max(arg[0].Int64(), 1)
		if n > int64(l.RowBytes) {
			ctx.ResultError(sqlite3.TOOBIG)
			return
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(h.fixed.rng.Uint32())
		}
		ctx.ResultBlob(b)
	})
	if err != nil {
		return err
	}
	for _, f := range dateFuncs {
		err := h.conn.CreateFunction(f.name, f.nArg, flags, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
			d.call(ctx, f, h.fixed.now.Format(nowFormat), arg)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fixArgs rewrites a date function's arguments: 'now', or a time value
// left out, becomes the command's time; 'localtime' and 'utc' are
// dropped, so every replica computes in UTC whatever its time zone (the
// Workers runtime runs in UTC too).
func fixArgs(f dateFunc, now string, args []any) []any {
	out := make([]any, 0, len(args)+1)
	for i, a := range args {
		s, isText := a.(string)
		switch {
		case isText && isTimeArg(f, i) && strings.EqualFold(s, "now"):
			a = now
		case isText && f.modifiers && !isTimeArg(f, i) && i > f.timeArgs[len(f.timeArgs)-1] &&
			(strings.EqualFold(s, "localtime") || strings.EqualFold(s, "utc")):
			continue
		}
		out = append(out, a)
	}
	for _, p := range f.timeArgs {
		if p >= len(args) && len(out) == p {
			out = append(out, now)
		}
	}
	if f.timeArgs == nil {
		out = append(out, now)
	}
	return out
}

// isTimeArg reports whether argument i of f is a time value.
func isTimeArg(f dateFunc, i int) bool {
	for _, p := range f.timeArgs {
		if p == i {
			return true
		}
	}
	return false
}

// dateHelper evaluates SQLite's built-in date functions, on arguments
// with no 'now' left in them, on a connection of its own where they are
// not overridden.
type dateHelper struct {
	mu    sync.Mutex
	conn  *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

func newDateHelper() (*dateHelper, error) {
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open the date helper: %w", err)
	}
	return &dateHelper{conn: c, stmts: map[string]*sqlite3.Stmt{}}, nil
}

func (d *dateHelper) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.stmts {
		_ = st.Close()
	}
	return d.conn.Close()
}

// call evaluates f on arg with 'now' fixed, setting ctx's result.
func (d *dateHelper) call(ctx sqlite3.Context, f dateFunc, now string, arg []sqlite3.Value) {
	args := make([]any, len(arg))
	for i, v := range arg {
		args[i] = valueOf(v)
	}
	args = fixArgs(f, now, args)
	name := f.name
	if b, ok := builtinOf[name]; ok {
		name = b
	}
	res, err := d.eval(name, args)
	if err != nil {
		ctx.ResultError(err)
		return
	}
	resultOf(ctx, res)
}

// eval runs the built-in name on args.
func (d *dateHelper) eval(name string, args []any) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := fmt.Sprintf("%s/%d", name, len(args))
	st, ok := d.stmts[key]
	if !ok {
		q := "SELECT " + name + "(" + strings.TrimSuffix(strings.Repeat("?,", len(args)), ",") + ")"
		var err error
		if st, _, err = d.conn.Prepare(q); err != nil {
			return nil, err
		}
		d.stmts[key] = st
	}
	defer st.Reset()
	if err := bindAll(st, args); err != nil {
		return nil, err
	}
	if !st.Step() {
		return nil, st.Err()
	}
	return columnValue(st, 0), nil
}

// valueOf is a function argument as a Go value.
func valueOf(v sqlite3.Value) any {
	switch v.Type() {
	case sqlite3.INTEGER:
		return v.Int64()
	case sqlite3.FLOAT:
		return v.Float()
	case sqlite3.TEXT:
		return v.Text()
	case sqlite3.BLOB:
		return v.Blob(nil)
	}
	return nil
}

// resultOf sets a function's result from a Go value.
func resultOf(ctx sqlite3.Context, v any) {
	switch v := v.(type) {
	case int64:
		ctx.ResultInt64(v)
	case float64:
		ctx.ResultFloat(v)
	case string:
		ctx.ResultText(v)
	case []byte:
		ctx.ResultBlob(v)
	default:
		ctx.ResultNull()
	}
}
