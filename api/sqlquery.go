package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/fsm"
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

//
// The console reaches SQL objects by their FSM names, which it lists:
//
//	GET  /_sql/objects?prefix=&start_after=&limit=
//	     200 {"objects": [{"object": "_do/<script>:<Class>/<id>", "class":
//	     "<script>:<Class>", "id": "<id>", "bytes": n}], "more": bool}
//	POST /_sql/query
//	     body: an SQLQuery with "object": an FSM name of that list
//
// both admin (requiredRole's /_sql/).

// maxSQLRows bounds the rows of one answer; a query's limit may lower it.
const maxSQLRows = 1000

func (s *Server) registerSQLRoutes(e *echo.Echo) {
	e.POST("/_scripts/:script/objects/:class/:name/sql", s.querySQL)
	e.GET("/_sql/objects", s.listSQLObjects)
	e.POST("/_sql/query", s.querySQLObject)
}

// querySQL serves POST /_scripts/<script>/objects/<Class>/<name>/sql.
func (s *Server) querySQL(c echo.Context) error {
	key, id, _, err := s.scriptObjectPath(c)
	if err != nil {
		return err
	}
	in, err := s.sqlQueryBody(c, false)
	if err != nil {
		return err
	}
	return s.runSQLQuery(c, key, id.ID, in)
}

// querySQLObject serves POST /_sql/query.
func (s *Server) querySQLObject(c echo.Context) error {
	in, err := s.sqlQueryBody(c, true)
	if err != nil {
		return err
	}
	key, id, ok := fsm.SplitClassObject(in.Object)
	if !ok {
		return badRequest("object must be an SQL object's name as GET /_sql/objects lists it")
	}
	if err := s.readConsistent(c); err != nil {
		return err
	}
	return s.runSQLQuery(c, key, id, in)
}

// sqlQueryBody decodes an SQLQuery; withObject: it names its object.
func (s *Server) sqlQueryBody(c echo.Context, withObject bool) (apitypes.SQLQuery, error) {
	var in apitypes.SQLQuery
	body, err := s.readBody(c)
	if err != nil {
		return in, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, badRequest(`the body must be {"query": "…", "params": […]}: %v`, err)
	}
	switch {
	case withObject && in.Object == "":
		return in, badRequest("object is missing: an SQL object's name as GET /_sql/objects lists it")
	case !withObject && in.Object != "":
		return in, badRequest("object is named by the path here, not the body")
	}
	return in, nil
}

// runSQLQuery runs in on object id of class key and writes the answer.
func (s *Server) runSQLQuery(c echo.Context, key, id string, in apitypes.SQLQuery) error {
	var err error
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

// sqlObjectsPage is GET /_sql/objects's answer.
type sqlObjectsPage struct {
	Objects []sqlObjectJSON `json:"objects"`
	More    bool            `json:"more"`
}

type sqlObjectJSON struct {
	Object string `json:"object"`
	Class  string `json:"class"`
	ID     string `json:"id"`
	Bytes  int64  `json:"bytes"`
}

// listSQLObjects serves GET /_sql/objects.
func (s *Server) listSQLObjects(c echo.Context) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	limit := s.cfg.MaxListLimit
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return badRequest("limit must be a positive integer")
		}
		limit = min(n, limit)
	}
	if err := s.readConsistent(c); err != nil {
		return err
	}
	list, more, err := s.classes.SQLObjects(q.Get("prefix"), q.Get("start_after"), limit)
	if err != nil {
		return err
	}
	page := sqlObjectsPage{Objects: make([]sqlObjectJSON, len(list)), More: more}
	for i, o := range list {
		page.Objects[i] = sqlObjectJSON{Object: o.Object, Class: o.Class, ID: o.ID, Bytes: o.Bytes}
	}
	return writeJSON(c, http.StatusOK, page)
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
