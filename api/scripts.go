package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// Scripts (issue 20), routes (all admin):
//
//	PUT    /_scripts/<name>                   deploy: multipart/form-data, a `metadata`
//	                                          JSON part and one part per module (README)
//	GET    /_scripts                          {"scripts":[apitypes.Script…]}
//	GET    /_scripts/<name>                   one apitypes.Script
//	DELETE /_scripts/<name>                   {"deleted":true}; 404 when absent; the
//	                                          objects' storage stays
//	PUT    /_scripts/<name>/secrets/<SECRET>  body: the value
//	GET    /_scripts/<name>/secrets           {"secrets":["NAME",…]}: names only
//
// No route returns a script's code or a secret's value. The two PUTs take
// bodies that are not JSON (the multipart upload, a secret's raw value),
// so they are not among jsonRoute's: a PUT is never sent across sites
// without a CORS preflight, and on a node without tokens guardOpen
// refuses one from another site's page all the same.

// scriptNode is what the script routes need of the node, part of Node;
// *cluster.Node has it.
//
// Errors: objects.ErrInvalid (a binding or migration the FSM refused,
// its message naming it; nothing applied), and those of Node.Write.
type scriptNode interface {
	DeployScript(ctx context.Context, p *fsm.ScriptPut) (cluster.ScriptDeploy, error)
	DeleteScript(ctx context.Context, name string) (bool, error)
	PutSecret(ctx context.Context, script, name, value string) (bool, error)
	Script(name string) (cluster.Script, bool)
	Scripts() []cluster.Script
}

// DefaultMaxScriptBytes is the default bound of a script upload (the
// whole multipart body).
const DefaultMaxScriptBytes = 4 << 20

// maxSecretBytes bounds a secret's value (Cloudflare's bound).
const maxSecretBytes = 5 << 10

var (
	// scriptNamePattern is a script's name, as wrangler's and
	// Cloudflare's: lowercase letters, digits, - and _.
	scriptNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// bindingNamePattern is an env binding's or a secret's name.
	bindingNamePattern = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]{0,255}$`)
	datePattern        = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// registerScriptRoutes adds the script routes.
func (s *Server) registerScriptRoutes(e *echo.Echo) {
	h := &scriptRoutes{s: s, node: s.node}
	e.PUT("/_scripts/:script", h.deploy)
	e.GET("/_scripts", h.list)
	e.GET("/_scripts/:script", h.get)
	e.DELETE("/_scripts/:script", h.delete)
	e.PUT("/_scripts/:script/secrets/:secret", h.putSecret)
	e.GET("/_scripts/:script/secrets", h.listSecrets)
}

type scriptRoutes struct {
	s    *Server
	node scriptNode
}

// scriptName is the decoded, checked <name> of /_scripts/<name>/….
func scriptName(c echo.Context) (string, error) {
	_, rest := pathSegments(c)
	raw, _, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(raw)
	if err != nil || !scriptNamePattern.MatchString(name) {
		return "", badRequest("script name must be 1 to 63 lowercase letters, digits, - and _, starting with a letter or digit")
	}
	return name, nil
}

// refused is the answer to a command the FSM refused: the status, and its
// message (which names the binding or migration) as the detail.
func refused(status int, err error) error {
	if errors.Is(err, objects.ErrInvalid) {
		return &apiError{status, strings.TrimPrefix(err.Error(), objects.ErrInvalid.Error()+": ")}
	}
	return writeFailed(err)
}

// deploy serves PUT /_scripts/<name>.
func (h *scriptRoutes) deploy(c echo.Context) error {
	name, err := scriptName(c)
	if err != nil {
		return err
	}
	meta, modules, err := h.readUpload(c)
	if err != nil {
		return err
	}
	put, err := scriptPut(name, meta, modules)
	if err != nil {
		return err
	}
	if err := h.checkExports(c, put); err != nil {
		return err
	}
	d, err := h.node.DeployScript(c.Request().Context(), put)
	if err != nil {
		return refused(http.StatusBadRequest, err)
	}
	setIndex(c, d.Version)
	return writeJSON(c, http.StatusOK, apitypes.ScriptDeployed{Script: name, Version: d.Version,
		Applied: nonNil(d.Applied), Classes: scriptClasses(d.Classes)})
}

// readUpload reads a multipart upload, bounded by MaxScriptBytes: the
// metadata part and the module parts, by name.
func (h *scriptRoutes) readUpload(c echo.Context) (apitypes.ScriptMetadata, []fsm.Module, error) {
	var meta apitypes.ScriptMetadata
	r := c.Request()
	mt, params, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return meta, nil, badRequest("a script upload is multipart/form-data: a metadata part and the modules")
	}
	limit := h.s.cfg.MaxScriptBytes
	if r.ContentLength > limit {
		return meta, nil, tooLarge("the upload is larger than %d bytes", limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return meta, nil, badRequest("could not read the request body")
	}
	if int64(len(body)) > limit {
		return meta, nil, tooLarge("the upload is larger than %d bytes", limit)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var modules []fsm.Module
	seenMeta := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return meta, nil, badRequest("the multipart body is malformed: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return meta, nil, badRequest("the multipart body is malformed: %v", err)
		}
		if p.FormName() == "metadata" {
			if err := json.Unmarshal(data, &meta); err != nil {
				return meta, nil, badRequest("metadata is not valid JSON: %v", err)
			}
			seenMeta = true
			continue
		}
		m, err := uploadedModule(p, data)
		if err != nil {
			return meta, nil, err
		}
		for _, o := range modules {
			if o.Name == m.Name {
				return meta, nil, badRequest("module %s is uploaded twice", m.Name)
			}
		}
		modules = append(modules, m)
	}
	if !seenMeta {
		return meta, nil, badRequest("the upload has no metadata part")
	}
	return meta, modules, nil
}

// uploadedModule is one module part: its name is the part's filename
// (or form name), its type an ES module's.
func uploadedModule(p *multipart.Part, data []byte) (fsm.Module, error) {
	name := p.FileName()
	if name == "" {
		name = p.FormName()
	}
	if name == "" {
		return fsm.Module{}, badRequest("a module part has no name")
	}
	mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
	switch mt {
	case "", "application/javascript+module", "application/javascript", "text/javascript":
	default:
		return fsm.Module{}, badRequest("module %s: type %s is not supported (ES modules only: application/javascript+module)", name, mt)
	}
	return fsm.Module{Name: name, Type: "esm", Content: data}, nil
}

// scriptPut checks an upload's metadata and turns it into the command's
// body. What depends on other scripts (bindings' targets, migrations
// against the last deployment) the FSM checks when it applies it.
func scriptPut(name string, meta apitypes.ScriptMetadata, modules []fsm.Module) (*fsm.ScriptPut, error) {
	p := &fsm.ScriptPut{Name: name, MainModule: meta.MainModule, Modules: modules,
		CompatibilityDate: meta.CompatibilityDate, CompatibilityFlags: meta.CompatibilityFlags}
	found := false
	for _, m := range modules {
		found = found || m.Name == meta.MainModule
	}
	switch {
	case meta.MainModule == "":
		return nil, badRequest("metadata.main_module is required")
	case !found:
		return nil, badRequest("metadata.main_module %q is not among the uploaded modules", meta.MainModule)
	case !datePattern.MatchString(meta.CompatibilityDate):
		return nil, badRequest("metadata.compatibility_date must be YYYY-MM-DD")
	}
	if _, err := time.Parse(time.DateOnly, meta.CompatibilityDate); err != nil {
		return nil, badRequest("metadata.compatibility_date must be YYYY-MM-DD")
	}
	if err := addBindings(p, meta.Bindings); err != nil {
		return nil, err
	}
	if err := addMigrations(p, meta.Migrations); err != nil {
		return nil, err
	}
	for i, r := range meta.Routes {
		if strings.TrimSpace(r.Pattern) == "" {
			return nil, badRequest("metadata.routes[%d]: pattern is empty", i)
		}
		p.Routes = append(p.Routes, fsm.Route{Pattern: r.Pattern, ZoneName: r.ZoneName, CustomDomain: r.CustomDomain})
	}
	sort.Slice(p.Vars, func(i, j int) bool { return p.Vars[i].Name < p.Vars[j].Name })
	return p, nil
}

// addBindings checks each binding and adds it to p.
func addBindings(p *fsm.ScriptPut, bindings []apitypes.ScriptBinding) error {
	seen := map[string]bool{}
	for i, b := range bindings {
		bad := func(format string, args ...any) error {
			return badRequest("metadata.bindings[%d] (%s): %s", i, b.Name, fmt.Sprintf(format, args...))
		}
		if !bindingNamePattern.MatchString(b.Name) {
			return badRequest("metadata.bindings[%d]: name %q is not a valid binding name", i, b.Name)
		}
		if seen[b.Name] {
			return bad("the name is bound twice")
		}
		seen[b.Name] = true
		switch b.Type {
		case apitypes.BindingDurableObject:
			if classes.CheckClassName(b.ClassName) != nil {
				return bad("class_name %q is not a JavaScript class name", b.ClassName)
			}
			if b.ScriptName != "" && !scriptNamePattern.MatchString(b.ScriptName) {
				return bad("script_name %q is not a script name", b.ScriptName)
			}
			p.DurableObjects = append(p.DurableObjects, fsm.DOBinding{Name: b.Name, Class: b.ClassName, Script: b.ScriptName})
		case apitypes.BindingService:
			if !scriptNamePattern.MatchString(b.Service) {
				return bad("service %q is not a script name", b.Service)
			}
			p.Services = append(p.Services, fsm.ServiceBinding{Name: b.Name, Service: b.Service, Entrypoint: b.Entrypoint})
		case apitypes.BindingText:
			v, _ := json.Marshal(b.Text)
			p.Vars = append(p.Vars, fsm.Var{Name: b.Name, JSON: v})
		case apitypes.BindingJSON:
			v, err := canonical(b.JSON)
			if err != nil || len(b.JSON) == 0 {
				return bad("json is not a JSON value")
			}
			p.Vars = append(p.Vars, fsm.Var{Name: b.Name, JSON: v})
		default:
			return bad("type %q is not supported (durable_object_namespace, service, plain_text, json)", b.Type)
		}
	}
	return nil
}

// addMigrations checks each migration's tag and class names and adds it
// to p.
func addMigrations(p *fsm.ScriptPut, migrations []apitypes.ScriptMigration) error {
	tags := map[string]bool{}
	for i, m := range migrations {
		if m.Tag == "" || tags[m.Tag] {
			return badRequest("metadata.migrations[%d]: every migration needs a tag of its own", i)
		}
		tags[m.Tag] = true
		names := append(append(append([]string{}, m.NewClasses...), m.NewSQLiteClasses...), m.DeletedClasses...)
		mg := fsm.Migration{Tag: m.Tag, NewClasses: m.NewClasses, NewSQLiteClasses: m.NewSQLiteClasses, Deleted: m.DeletedClasses}
		for _, r := range m.RenamedClasses {
			names = append(names, r.From, r.To)
			mg.Renamed = append(mg.Renamed, fsm.Rename{From: r.From, To: r.To})
		}
		for _, n := range names {
			if classes.CheckClassName(n) != nil {
				return badRequest("metadata.migrations[%d] (%s): %q is not a JavaScript class name", i, m.Tag, n)
			}
		}
		p.Migrations = append(p.Migrations, mg)
	}
	return nil
}

// list serves GET /_scripts.
func (h *scriptRoutes) list(c echo.Context) error {
	if err := h.s.readConsistent(c); err != nil {
		return err
	}
	out := []apitypes.Script{}
	for _, sc := range h.node.Scripts() {
		out = append(out, scriptInfo(&sc))
	}
	return writeJSON(c, http.StatusOK, map[string]any{"scripts": out})
}

// script reads one script, linearizably unless ?consistency says not.
func (h *scriptRoutes) script(c echo.Context) (cluster.Script, error) {
	name, err := scriptName(c)
	if err != nil {
		return cluster.Script{}, err
	}
	if err := h.s.readConsistent(c); err != nil {
		return cluster.Script{}, err
	}
	sc, ok := h.node.Script(name)
	if !ok {
		return sc, scriptNotFound(name)
	}
	return sc, nil
}

// get serves GET /_scripts/<name>.
func (h *scriptRoutes) get(c echo.Context) error {
	sc, err := h.script(c)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, scriptInfo(&sc))
}

// delete serves DELETE /_scripts/<name>: 404 when absent, 409 while
// another script binds it.
func (h *scriptRoutes) delete(c echo.Context) error {
	name, err := scriptName(c)
	if err != nil {
		return err
	}
	found, err := h.node.DeleteScript(c.Request().Context(), name)
	if err != nil {
		return refused(http.StatusConflict, err)
	}
	if !found {
		return scriptNotFound(name)
	}
	return writeJSON(c, http.StatusOK, map[string]bool{"deleted": true})
}

// putSecret serves PUT /_scripts/<name>/secrets/<SECRET>: the body is the
// value, which no answer and no log line carries.
func (h *scriptRoutes) putSecret(c echo.Context) error {
	script, err := scriptName(c)
	if err != nil {
		return err
	}
	secret, err := url.PathUnescape(c.Param("secret"))
	if err != nil || !bindingNamePattern.MatchString(secret) {
		return badRequest("secret name must be a JavaScript identifier of at most 256 bytes")
	}
	r := c.Request()
	value, err := io.ReadAll(io.LimitReader(r.Body, maxSecretBytes+1))
	if err != nil {
		return badRequest("could not read the request body")
	}
	if len(value) > maxSecretBytes {
		return tooLarge("a secret is at most %d bytes", maxSecretBytes)
	}
	found, err := h.node.PutSecret(r.Context(), script, secret, string(value))
	if err != nil {
		return writeFailed(err)
	}
	if !found {
		return scriptNotFound(script)
	}
	return writeJSON(c, http.StatusOK, map[string]string{"script": script, "secret": secret})
}

// listSecrets serves GET /_scripts/<name>/secrets: the names only.
func (h *scriptRoutes) listSecrets(c echo.Context) error {
	sc, err := h.script(c)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, map[string][]string{"secrets": nonNil(sc.SecretNames())})
}

func scriptNotFound(name string) error {
	return &apiError{http.StatusNotFound, "script " + name + " is not deployed"}
}

// scriptInfo is what the routes show of a script: no code, no secrets.
func scriptInfo(sc *cluster.Script) apitypes.Script {
	out := apitypes.Script{Name: sc.Name, Version: sc.Version, MainModule: sc.MainModule, Modules: []string{},
		CompatibilityDate: sc.CompatibilityDate, CompatibilityFlags: nonNil(sc.CompatibilityFlags),
		Classes: scriptClasses(sc.Classes), MigrationTags: nonNil(sc.Tags), Bindings: []apitypes.ScriptBinding{},
		Routes: []apitypes.ScriptRoute{}}
	for _, m := range sc.Modules {
		out.Modules = append(out.Modules, m.Name)
	}
	for _, b := range sc.DurableObjects {
		out.Bindings = append(out.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingDurableObject, Name: b.Name,
			ClassName: b.Class, ScriptName: b.Script})
	}
	for _, b := range sc.Services {
		out.Bindings = append(out.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingService, Name: b.Name,
			Service: b.Service, Entrypoint: b.Entrypoint})
	}
	for _, v := range sc.Vars {
		out.Bindings = append(out.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingJSON, Name: v.Name, JSON: v.JSON})
	}
	for _, r := range sc.Routes {
		out.Routes = append(out.Routes, apitypes.ScriptRoute{Pattern: r.Pattern, ZoneName: r.ZoneName, CustomDomain: r.CustomDomain})
	}
	return out
}

func scriptClasses(cls []fsm.ScriptClass) []apitypes.ScriptClass {
	out := []apitypes.ScriptClass{}
	for _, c := range cls {
		out = append(out, apitypes.ScriptClass{Name: c.Name, SQLite: c.SQLite, CreatedAs: c.CreatedAs, Tag: c.Tag})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
