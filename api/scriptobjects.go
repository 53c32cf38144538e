package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/host"
	"github.com/labstack/echo/v4"
)

// A script's objects, reached by an operator or a non-JavaScript client
// without a Worker (issue 20):
//
//	POST /_scripts/<script>/objects/<Class>/<name>/rpc/<method>
//	     body: a JSON array of the arguments (none: empty body or []);
//	     200 with the result as JSON, 204 when it is undefined; a throw
//	     is 500 problem+json whose detail is "<Name>: <message>". An
//	     Idempotency-Key makes it a keyed call as a fetch's: a retry
//	     with the key gets the first result, nothing applied again; the
//	     key used for another request (object, method, arguments, or a
//	     fetch) is a 422. Such a call is one command: it does not lend
//	     the object's gate while it awaits (README, "what is atomic").
//	POST /_scripts/<script>/objects/<Class>/<name>/sql
//	     a read-only SQL query of an SQLite-backed object (sqlquery.go)
//	ANY  /_scripts/<script>/objects/<Class>/<name>/<path…>
//	     fetch(request) of the object, as /do/<Class>/<name>/<path…>
//
// <Class> is the class's current name in the script and <name> the
// object's name: the object is the one env.X.idFromName(<name>) reaches
// from the script's Workers. Like the rest of /_scripts they need the
// admin role: they bypass whatever the script's Worker checks.

func (s *Server) registerScriptObjectRoutes(e *echo.Echo) {
	e.POST("/_scripts/:script/objects/:class/:name/rpc/:method", s.scriptRPC)
	s.registerSQLRoutes(e)
	e.Any("/_scripts/:script/objects/:class/:name", s.scriptFetch)
	e.Any("/_scripts/:script/objects/:class/:name/*", s.scriptFetch)
}

// scriptObjectPath splits /_scripts/<script>/objects/<Class>/<name>/<rest>
// (escaped): the object's class key and id (made from its name), and
// the escaped rest.
func (s *Server) scriptObjectPath(c echo.Context) (key string, id classes.StubID, rest string, err error) {
	script, err := scriptName(c)
	if err != nil {
		return "", id, "", err
	}
	p := c.Request().URL.EscapedPath()
	_, p, _ = strings.Cut(strings.TrimPrefix(p, "/_scripts/"), "/")
	p = strings.TrimPrefix(p, "objects/")
	rawClass, p, _ := strings.Cut(p, "/")
	rawName, rest, _ := strings.Cut(p, "/")
	class, err := checkClassName(rawClass)
	if err != nil {
		return "", id, "", err
	}
	name, err := s.decodeObjectName(rawName)
	if err != nil {
		return "", id, "", err
	}
	if err := s.readConsistent(c); err != nil {
		return "", id, "", err
	}
	key, ns, err := s.classes.ResolveScriptClass(script, class)
	if errors.Is(err, host.ErrClassNotFound) {
		return "", id, "", &apiError{http.StatusNotFound, "script " + script + " has no class " + class}
	}
	if err != nil {
		return "", id, "", err
	}
	return key, classes.StubID{ID: ns.IDFromName(name).String(), Name: name}, rest, nil
}

// scriptFetch serves ANY /_scripts/<script>/objects/<Class>/<name>/<path…>.
func (s *Server) scriptFetch(c echo.Context) error {
	for k, v := range classResponseHeaders {
		c.Response().Header().Set(k, v)
	}
	key, id, rest, err := s.scriptObjectPath(c)
	if err != nil {
		return err
	}
	return s.fetchObject(c, key, id, rest, classNotFound)
}

// scriptRPC serves POST /_scripts/<script>/objects/<Class>/<name>/rpc/<method>.
func (s *Server) scriptRPC(c echo.Context) error {
	key, id, rest, err := s.scriptObjectPath(c)
	if err != nil {
		return err
	}
	method := strings.TrimPrefix(rest, "rpc/")
	if err := classes.CheckClassName(method); err != nil {
		return badRequest("method must be a JavaScript identifier")
	}
	idem, err := s.idempotencyKey(c)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var args []json.RawMessage
	if len(body) > 0 {
		if err := json.Unmarshal(body, &args); err != nil {
			return badRequest("the body must be a JSON array of the arguments")
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.cfg.CallTimeout)
	defer cancel()
	res, err := s.classes.RPC(ctx, key, id, method, body, idem)
	if err != nil {
		var ce *host.CallError
		switch {
		case errors.Is(err, host.ErrClassNotFound):
			return classNotFound(key)
		case errors.As(err, &ce):
			return &apiError{http.StatusInternalServerError, ce.Message}
		}
		return writeFailed(err)
	}
	if res.Value == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, res.Value)
}
