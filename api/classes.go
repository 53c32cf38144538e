package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// Object classes (issue 14), routes:
//
//	PUT    /_classes/<Class>     deploy (body: the module; ?lang=ts or a TypeScript Content-Type)
//	GET    /_classes             {"classes":[{"name","lang","version"}]}
//	GET    /_classes/<Class>     the source
//	DELETE /_classes/<Class>     {"deleted":bool}; the objects' storage stays
//	ANY    /do/<Class>/<name>/<path…>   fetch(request) of object <name>
//	GET    /_classes/<Class>/objects/<name>/storage[/<key>]
//	       an object's storage, read without running code, with the list
//	       options and consistency of GET /<name>/storage
//
// Class object storage lives in the FSM under "_do/<Class>/<name>", which
// the built-in routes cannot name.

// Host is what the class routes need of the node's object host;
// *host.Host has it.
//
// Error contract: Call and ServeWebSocket return host.ErrClassNotFound,
// *host.CallError (the class's code failed; nothing committed), and the
// node's errors as Node's writes do; ServeWebSocket returns nil, nil once
// it has upgraded the connection.
type Host interface {
	DeployClass(ctx context.Context, name string, lang classes.Lang, source []byte) (uint64, error)
	DeleteClass(ctx context.Context, name string) (bool, error)
	Class(name string) (cluster.Class, bool)
	Classes() []cluster.Class
	// CallStub runs fetch of an object: a /_classes object by its name
	// (id.ID), a script's by its id, with the name it was made from.
	CallStub(ctx context.Context, class string, id classes.StubID, req *classes.Request, idemKey string) (*host.CallResult, error)
	ServeWebSocket(w http.ResponseWriter, r *http.Request, class string, id classes.StubID, req *classes.Request) (*host.CallResult, error)
	// ResolveScriptClass and RPC: a script's objects (scriptobjects.go);
	// an RPC with idemKey is a keyed call as CallStub's.
	ResolveScriptClass(script, class string) (key string, ns objects.Namespace, err error)
	RPC(ctx context.Context, class string, id classes.StubID, method string, args []byte, idemKey string) (*classes.RPCResult, error)
	// QuerySQL and SQLObjects: operators' reads of SQLite-backed
	// objects (sqlquery.go).
	QuerySQL(class, id string, q host.SQLQuery) (*host.SQLAnswer, error)
	SQLObjects(prefix, startAfter string, limit int) ([]host.SQLObject, bool, error)
}

var _ Host = (*host.Host)(nil)

// registerClassRoutes adds the class routes.
func (s *Server) registerClassRoutes(e *echo.Echo) {
	e.PUT("/_classes/:class", s.deployClass)
	e.GET("/_classes", s.listClasses)
	e.GET("/_classes/:class", s.getClass)
	e.DELETE("/_classes/:class", s.deleteClass)
	e.GET("/_classes/:class/objects/:name/storage", s.listClassStorage)
	e.GET("/_classes/:class/objects/:name/storage/*", s.getClassValue)
	e.Any("/do/:class/:name", s.callClass)
	e.Any("/do/:class/:name/*", s.callClass)
}

// className is the decoded <Class> segment of /_classes/<Class>/…, a
// JavaScript identifier of at most 64 bytes.
func className(c echo.Context) (string, error) {
	_, rest := pathSegments(c)
	raw, _, _ := strings.Cut(rest, "/")
	return checkClassName(raw)
}

// checkClassName decodes and validates a class name from the path.
func checkClassName(raw string) (string, error) {
	name, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest("class name is not validly percent-encoded")
	}
	if err := classes.CheckClassName(name); err != nil {
		return "", badRequest("class name must be a JavaScript identifier of at most %d bytes", classes.MaxClassNameBytes)
	}
	return name, nil
}

// sourceLang is the module's language: ?lang=ts|js, else the Content-Type.
func sourceLang(c echo.Context) (classes.Lang, error) {
	q, err := query(c)
	if err != nil {
		return "", err
	}
	switch q.Get("lang") {
	case "ts", "typescript":
		return classes.TypeScript, nil
	case "js", "javascript":
		return classes.JavaScript, nil
	case "":
	default:
		return "", badRequest("lang must be js or ts")
	}
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	switch mt {
	case "application/typescript", "text/typescript", "application/x-typescript":
		return classes.TypeScript, nil
	}
	return classes.JavaScript, nil
}

// deployClass serves PUT /_classes/<Class>: compile here, so a bad module
// is a 400 naming the line, then commit the source through Raft.
func (s *Server) deployClass(c echo.Context) error {
	name, err := className(c)
	if err != nil {
		return err
	}
	lang, err := sourceLang(c)
	if err != nil {
		return err
	}
	source, err := s.readBody(c)
	if err != nil {
		return err
	}
	if _, err := classes.Compile(name, source, lang); err != nil {
		var ce *classes.CompileError
		switch {
		case errors.As(err, &ce):
			return badRequest("%s", ce.Error())
		case errors.Is(err, classes.ErrSourceTooLarge):
			return tooLarge("the module's source is too large")
		default:
			return badRequest("the module does not compile: %v", err)
		}
	}
	version, err := s.classes.DeployClass(c.Request().Context(), name, lang, source)
	if err != nil {
		return writeFailed(err)
	}
	setIndex(c, version)
	return writeJSON(c, http.StatusOK, map[string]any{"class": name, "lang": lang, "version": version})
}

type classInfo struct {
	Name    string `json:"name"`
	Lang    string `json:"lang"`
	Version uint64 `json:"version"`
}

// listClasses serves GET /_classes.
func (s *Server) listClasses(c echo.Context) error {
	if err := s.readConsistent(c); err != nil {
		return err
	}
	out := []classInfo{}
	for _, cl := range s.classes.Classes() {
		out = append(out, classInfo{Name: cl.Name, Lang: cl.Lang, Version: cl.Version})
	}
	return writeJSON(c, http.StatusOK, map[string]any{"classes": out})
}

// getClass serves GET /_classes/<Class>: the source as deployed, its
// version in X-Dobj-Class-Version.
func (s *Server) getClass(c echo.Context) error {
	name, err := className(c)
	if err != nil {
		return err
	}
	if err := s.readConsistent(c); err != nil {
		return err
	}
	cl, ok := s.classes.Class(name)
	if !ok {
		return classNotFound(name)
	}
	ct := "application/javascript"
	if cl.Lang == "ts" {
		ct = "application/typescript"
	}
	c.Response().Header().Set("X-Dobj-Class-Version", strconv.FormatUint(cl.Version, 10))
	return c.Blob(http.StatusOK, ct, cl.Source)
}

// deleteClass serves DELETE /_classes/<Class>.
func (s *Server) deleteClass(c echo.Context) error {
	name, err := className(c)
	if err != nil {
		return err
	}
	found, err := s.classes.DeleteClass(c.Request().Context(), name)
	if err != nil {
		return writeFailed(err)
	}
	return writeJSON(c, http.StatusOK, map[string]bool{"deleted": found})
}

// readConsistent makes the class registry read that follows as fresh as
// ?consistency asks (linearizable by default).
func (s *Server) readConsistent(c echo.Context) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	linearizable, err := consistency(q)
	if err != nil {
		return err
	}
	return s.read(c, linearizable, func(*objects.Store) {})
}

func classNotFound(name string) error {
	return &apiError{http.StatusNotFound, "class " + name + " is not registered"}
}

// doPath splits /do/<Class>/<name>/<rest…> (escaped): the decoded class
// and object names and the escaped rest, without its leading slash.
func (s *Server) doPath(c echo.Context) (class, name, rest string, err error) {
	p := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/do/")
	rawClass, p, _ := strings.Cut(p, "/")
	rawName, rest, _ := strings.Cut(p, "/")
	if class, err = checkClassName(rawClass); err != nil {
		return "", "", "", err
	}
	if name, err = s.decodeObjectName(rawName); err != nil {
		return "", "", "", err
	}
	return class, name, rest, nil
}

// callClass serves any method at /do/<Class>/<name>/<path…>: fetch of
// the object, on the leader. fetch sees the URL relative to the object,
// http://<host>/<path…>?<query>, so a class written for Durable Objects
// routes on url.pathname as it would there.
func (s *Server) callClass(c echo.Context) error {
	for k, v := range classResponseHeaders {
		c.Response().Header().Set(k, v)
	}
	class, name, rest, err := s.doPath(c)
	if err != nil {
		return err
	}
	return s.fetchObject(c, class, classes.StubID{ID: name}, rest, classNotFound)
}

// fetchObject runs fetch of object name of class (a class key), with the
// request's URL made relative to the object (rest: the escaped path
// after it), and writes its response; notFound is the error when the
// class is not there.
func (s *Server) fetchObject(c echo.Context, class string, id classes.StubID, rest string, notFound func(string) error) error {
	r := c.Request()
	idem, err := s.idempotencyKey(c)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/", RawQuery: r.URL.RawQuery}
	if p, err := url.PathUnescape(rest); err == nil {
		u.Path, u.RawPath = "/"+p, "/"+rest
	}
	// The class sees the request's headers but not the client's bearer
	// token or dobj's cookies, which are the node's business, not the
	// code's (classorigin.go).
	header := r.Header.Clone()
	header.Del("Authorization")
	stripDobjCookies(header)
	req := &classes.Request{Method: r.Method, URL: u.String(), Header: header, Body: body}
	// A call runs for up to the class CPU limit, longer than other
	// requests may take; it does not stop when the client goes away
	// (a write does not either).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.CallTimeout)
	defer cancel()
	res, err := s.callOrUpgrade(ctx, c, class, id, req, idem)
	if res == nil && err == nil {
		return nil // upgraded to a WebSocket, served in the background
	}
	if err != nil {
		var ce *host.CallError
		switch {
		case errors.Is(err, host.ErrClassNotFound):
			return notFound(class)
		case errors.As(err, &ce):
			return &apiError{http.StatusInternalServerError, ce.Message}
		}
		return writeFailed(err)
	}
	setIndex(c, res.Index)
	classHeader(c.Response().Header(), res.Response.Header)
	status := res.Response.Status
	if status == 0 {
		status = http.StatusOK
	}
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(res.Response.Body)
	return err
}

// listClassStorage serves GET /_classes/<Class>/objects/<name>/storage:
// the object's entries, as GET /<name>/storage lists a built-in object's.
func (s *Server) listClassStorage(c echo.Context) error {
	object, err := s.classObject(c)
	if err != nil {
		return err
	}
	return s.listEntries(c, object)
}

// getClassValue serves GET /_classes/<Class>/objects/<name>/storage/<key>.
func (s *Server) getClassValue(c echo.Context) error {
	object, err := s.classObject(c)
	if err != nil {
		return err
	}
	_, rest := pathSegments(c) // "_classes", "<Class>/objects/<name>/storage/<key>"
	parts := strings.SplitN(rest, "/", 5)
	if len(parts) < 5 {
		return badRequest("missing key")
	}
	key, err := url.PathUnescape(parts[4])
	if err != nil {
		return badRequest("key is not validly percent-encoded")
	}
	if err := s.checkKey(key); err != nil {
		return err
	}
	return s.readValue(c, object, key)
}

// classObject is the FSM object of /_classes/<Class>/objects/<name>/….
func (s *Server) classObject(c echo.Context) (string, error) {
	class, err := className(c)
	if err != nil {
		return "", err
	}
	_, rest := pathSegments(c)
	parts := strings.SplitN(rest, "/", 4) // <Class>, objects, <name>, …
	if len(parts) < 3 {
		return "", badRequest("object name is empty")
	}
	name, err := s.decodeObjectName(parts[2])
	if err != nil {
		return "", err
	}
	return fsm.ClassObject(class, name), nil
}

// defaultCallTimeout bounds a class call end to end: the default CPU
// limit plus time to commit.
const defaultCallTimeout = classes.DefaultCPULimit + 15*time.Second
