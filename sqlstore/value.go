package sqlstore

import (
	"fmt"
	"math"

	"github.com/ncruces/go-sqlite3"
)

// normalize returns a binding as one of the types a Statement's Args
// hold (int64, float64, string, []byte or nil), so that a log encodes the
// same however the caller typed it.
func normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, string, []byte:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int8:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("sqlstore: cannot bind %d: over SQLite's 64-bit signed integers", v)
		}
		return int64(v), nil
	case uint:
		if uint64(v) > math.MaxInt64 {
			return nil, fmt.Errorf("sqlstore: cannot bind %d: over SQLite's 64-bit signed integers", v)
		}
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint8:
		return int64(v), nil
	case float32:
		return float64(v), nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return nil, fmt.Errorf("sqlstore: cannot bind a %T (bind integers, floats, strings, byte slices, booleans or nil)", v)
}

// bindAll binds args, already normalized, to st's parameters 1…n.
func bindAll(st *sqlite3.Stmt, args []any) error {
	for i, a := range args {
		var err error
		switch a := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case int64:
			err = st.BindInt64(i+1, a)
		case float64:
			err = st.BindFloat(i+1, a)
		case string:
			err = st.BindText(i+1, a)
		case []byte:
			err = st.BindBlob(i+1, a)
		default:
			return fmt.Errorf("sqlstore: cannot bind a %T", a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// columnValue is column col of st's current row as a Go value.
func columnValue(st *sqlite3.Stmt, col int) any {
	switch st.ColumnType(col) {
	case sqlite3.INTEGER:
		return st.ColumnInt64(col)
	case sqlite3.FLOAT:
		return st.ColumnFloat(col)
	case sqlite3.TEXT:
		return st.ColumnText(col)
	case sqlite3.BLOB:
		return st.ColumnBlob(col, nil)
	}
	return nil
}
