package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/sqlstore"
	"github.com/labstack/echo/v4"
	"github.com/ncruces/go-sqlite3"
)

// An operator's read-only SQL query of one SQLite-backed object (issue 22):
//
//	POST /_scripts/<script>/objects/<Class>/<name>/sql
//	     body: {"query": "SELECT …", "params": [1, "a"], "limit": 100}
//	     200 {"columns": […], "rows": [[…]], "rowsRead": n, "more": bool}
//
// Admin, like the rest of /_scripts. The read is linearizable (or stale,
// with ?consistency=stale) as the other reads are: scriptObjectPath
// reads through the node before the query runs on this node's copy of
// the object's database. SQLite judges what reads: a statement that
// would write is a 400 that says the route is read-only, and nothing of
// it runs. A class that is not SQLite-backed is a 400; an object nothing
// was written to has no database, 404.

// maxSQLRows bounds the rows of one answer; a query's limit may lower it.
const maxSQLRows = 1000

// querySQL serves POST /_scripts/<script>/objects/<Class>/<name>/sql.
func (s *Server) querySQL(c echo.Context) error {
	key, id, _, err := s.scriptObjectPath(c)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var in apitypes.SQLQuery
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return badRequest(`the body must be {"query": "…", "params": […]}: %v`, err)
	}
	if in.Query == "" {
		return badRequest("query is empty")
	}
	if in.Limit < 0 {
		return badRequest("limit must not be negative")
	}
	params := make([]any, len(in.Params))
	for i, raw := range in.Params {
		if params[i], err = sqlParam(raw); err != nil {
			return badRequest("params[%d]: %v", i, err)
		}
	}
	q := host.SQLQuery{SQL: in.Query, Params: params, Limits: host.DefaultSQLQueryLimits}
	q.Limits.Rows = maxSQLRows
	if in.Limit > 0 {
		q.Limits.Rows = min(in.Limit, maxSQLRows)
	}
	ans, err := s.classes.QuerySQL(key, id, q)
	if err != nil {
		return sqlQueryFailed(key, err)
	}
	out := apitypes.SQLResult{Columns: ans.Columns, Rows: make([][]json.RawMessage, len(ans.Rows)), RowsRead: ans.RowsRead, More: ans.More}
	for i, row := range ans.Rows {
		out.Rows[i] = make([]json.RawMessage, len(row))
		for j, v := range row {
			if out.Rows[i][j], err = sqlValueJSON(v); err != nil {
				return err
			}
		}
	}
	return writeJSON(c, http.StatusOK, out)
}

// sqlQueryFailed words a failed query for the operator: the statement's
// own faults carry SQLite's message, which is about their query.
func sqlQueryFailed(key string, err error) error {
	var se *sqlstore.Error
	switch {
	case errors.Is(err, host.ErrClassNotFound):
		return classNotFound(key)
	case errors.Is(err, host.ErrNotSQL):
		return badRequest("the class is not SQLite-backed (list it under new_sqlite_classes in the script's migrations): its objects have no SQL database")
	case errors.Is(err, sqlstore.ErrNoDatabase):
		return &apiError{http.StatusNotFound, "the object has no SQL database: nothing was written to it yet"}
	case errors.As(err, &se) && se.Code == sqlite3.READONLY:
		return badRequest("this route is read-only: the statement would write (%v)", se)
	case errors.As(err, &se):
		return badRequest("%v", se)
	}
	return err
}

// sqlParam is one JSON binding as the value SQLite binds.
func sqlParam(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't', 'f':
		if string(raw) == "true" {
			return int64(1), nil
		}
		return int64(0), nil
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{':
		var b apitypes.SQLBlob
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil || b.Blob == nil {
			return nil, errors.New(`an object binding must be {"blob": "<base64>"}`)
		}
		return b.Blob, nil
	case '[':
		return nil, errors.New("an array is not an SQL value")
	}
	if !bytes.ContainsAny(raw, ".eE") {
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return nil, errors.New("not a number SQLite can hold")
	}
	return f, nil
}

// sqlValueJSON is one column value as JSON.
func sqlValueJSON(v any) (json.RawMessage, error) {
	if b, ok := v.([]byte); ok {
		v = apitypes.SQLBlob{Blob: b}
	}
	out, err := json.Marshal(v)
	if err != nil {
		// NaN and the infinities have no JSON: SQLite stores no NaN,
		// and an infinity is written as SQLite prints it.
		return json.RawMessage(strconv.Quote(strconv.FormatFloat(v.(float64), 'g', -1, 64))), nil
	}
	return out, nil
}
