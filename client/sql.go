package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/dobj/dobj/apitypes"
)

// The JSON of an operator's SQL query, defined once in apitypes.
type (
	SQLQuery  = apitypes.SQLQuery
	SQLResult = apitypes.SQLResult
	SQLBlob   = apitypes.SQLBlob
)

// scriptObjectPath is /_scripts/<script>/objects/<class>/<name>.
func scriptObjectPath(script, class, name string) string {
	return "/_scripts/" + url.PathEscape(script) + "/objects/" + url.PathEscape(class) + "/" + url.PathEscape(name)
}

// SQL runs one read-only statement on the database of object name of a
// script's SQLite-backed class (POST …/objects/<class>/<name>/sql, admin)
// and returns its columns and rows. A statement that would write, a
// syntax error or a class that is not SQLite-backed is an *Error 400; an
// object nothing was written to, 404.
func (c *Client) SQL(ctx context.Context, script, class, name string, q SQLQuery, o ReadOptions) (SQLResult, error) {
	var out SQLResult
	_, err := c.do(ctx, http.MethodPost, scriptObjectPath(script, class, name)+"/sql", readQuery(o), q, nil, &out)
	return out, err
}

// ScriptCall runs fetch of object name of a script's class without a
// Worker (ANY /_scripts/<script>/objects/<class>/<name>/<path>, admin),
// as Call does for a /_classes class.
func (c *Client) ScriptCall(ctx context.Context, script, class, name string, r CallRequest) (*Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if r.IdempotencyKey != "" {
		h.Set("Idempotency-Key", r.IdempotencyKey)
	}
	return c.raw(ctx, method, scriptObjectPath(script, class, name)+"/"+strings.TrimPrefix(r.Path, "/"), r.Body, h)
}
