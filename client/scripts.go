package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
)

// Scripts (issue 20): a Workers project deployed as one script, its
// secrets, and the listing. These are also the JSON shapes the api
// serves.

// ScriptMetadata is the `metadata` part of PUT /_scripts/<name>, modelled
// on Cloudflare's multipart script upload.
type ScriptMetadata struct {
	MainModule         string            `json:"main_module"`
	CompatibilityDate  string            `json:"compatibility_date,omitempty"`
	CompatibilityFlags []string          `json:"compatibility_flags,omitempty"`
	Bindings           []ScriptBinding   `json:"bindings,omitempty"`
	Migrations         []ScriptMigration `json:"migrations,omitempty"`
	Routes             []ScriptRoute     `json:"routes,omitempty"`
}

// Binding types of ScriptBinding, as Cloudflare names them.
const (
	BindingDurableObject = "durable_object_namespace"
	BindingService       = "service"
	BindingText          = "plain_text"
	BindingJSON          = "json"
)

// ScriptBinding is one env binding: a Durable Object namespace
// (ClassName, ScriptName), a service (Service, Entrypoint), a plain_text
// var (Text) or a json var (JSON).
type ScriptBinding struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	ClassName  string          `json:"class_name,omitempty"`
	ScriptName string          `json:"script_name,omitempty"`
	Service    string          `json:"service,omitempty"`
	Entrypoint string          `json:"entrypoint,omitempty"`
	Text       string          `json:"text,omitempty"`
	JSON       json.RawMessage `json:"json,omitempty"`
}

// ScriptMigration is one [[migrations]] step. An upload carries every
// step of the project; the server skips the tags the script has applied.
type ScriptMigration struct {
	Tag              string         `json:"tag"`
	NewClasses       []string       `json:"new_classes,omitempty"`
	NewSQLiteClasses []string       `json:"new_sqlite_classes,omitempty"`
	RenamedClasses   []RenamedClass `json:"renamed_classes,omitempty"`
	DeletedClasses   []string       `json:"deleted_classes,omitempty"`
}

// RenamedClass is a class a migration renames.
type RenamedClass struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ScriptRoute is a route of a script's Worker.
type ScriptRoute struct {
	Pattern      string `json:"pattern"`
	ZoneName     string `json:"zone_name,omitempty"`
	CustomDomain bool   `json:"custom_domain,omitempty"`
}

// ScriptModule is one module part of an upload.
type ScriptModule struct {
	Name    string
	Content []byte
}

// ScriptClass is a Durable Object class of a deployed script; CreatedAs
// is the name it was created under (its objects' namespace), which a
// rename keeps.
type ScriptClass struct {
	Name      string `json:"name"`
	SQLite    bool   `json:"sqlite"`
	CreatedAs string `json:"created_as"`
	Tag       string `json:"tag"`
}

// Script is a deployed script as GET /_scripts and GET /_scripts/<name>
// show it: never its code or its secrets' values.
type Script struct {
	Name               string          `json:"name"`
	Version            uint64          `json:"version"`
	MainModule         string          `json:"main_module"`
	Modules            []string        `json:"modules"`
	CompatibilityDate  string          `json:"compatibility_date"`
	CompatibilityFlags []string        `json:"compatibility_flags"`
	Classes            []ScriptClass   `json:"classes"`
	MigrationTags      []string        `json:"migration_tags"`
	Bindings           []ScriptBinding `json:"bindings"`
	Routes             []ScriptRoute   `json:"routes"`
}

// ScriptDeployed is the answer of PUT /_scripts/<name>.
type ScriptDeployed struct {
	Script  string        `json:"script"`
	Version uint64        `json:"version"`
	Applied []string      `json:"applied_migrations"`
	Classes []ScriptClass `json:"classes"`
}

// ScriptUploadBody returns the multipart body of PUT /_scripts/<name> and
// its Content-Type: the metadata part, then one part per module, named by
// the module's name, of type application/javascript+module.
func ScriptUploadBody(meta ScriptMetadata, modules []ScriptModule) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="metadata"`)
	h.Set("Content-Type", "application/json")
	part, err := w.CreatePart(h)
	if err == nil {
		_, err = part.Write(mb)
	}
	for _, m := range modules {
		if err != nil {
			break
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, m.Name, m.Name))
		h.Set("Content-Type", "application/javascript+module")
		if part, err = w.CreatePart(h); err == nil {
			_, err = part.Write(m.Content)
		}
	}
	if err == nil {
		err = w.Close()
	}
	return buf.Bytes(), w.FormDataContentType(), err
}

// DeployScript uploads a script: its metadata and modules. A binding or
// migration the cluster refuses is an *Error (4xx) naming it.
func (c *Client) DeployScript(ctx context.Context, name string, meta ScriptMetadata, modules []ScriptModule) (ScriptDeployed, error) {
	body, ct, err := ScriptUploadBody(meta, modules)
	if err != nil {
		return ScriptDeployed{}, err
	}
	var out ScriptDeployed
	resp, err := c.raw(ctx, http.MethodPut, scriptPath(name), body, http.Header{"Content-Type": {ct}})
	if err != nil {
		return out, err
	}
	if resp.Status/100 != 2 {
		return out, problemError(resp.Status, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return out, fmt.Errorf("decode deploy answer: %w", err)
	}
	return out, nil
}

// Scripts lists the deployed scripts.
func (c *Client) Scripts(ctx context.Context) ([]Script, error) {
	var out struct {
		Scripts []Script `json:"scripts"`
	}
	_, err := c.do(ctx, http.MethodGet, "/_scripts", nil, nil, nil, &out)
	return out.Scripts, err
}

// Script returns one deployed script (an *Error 404 when absent).
func (c *Client) Script(ctx context.Context, name string) (Script, error) {
	var out Script
	_, err := c.do(ctx, http.MethodGet, scriptPath(name), nil, nil, nil, &out)
	return out, err
}

// DeleteScript removes a script; its objects' storage stays. An absent
// script is an *Error 404.
func (c *Client) DeleteScript(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, scriptPath(name), nil, nil, nil, nil)
	return err
}

// PutSecret sets a secret of a deployed script.
func (c *Client) PutSecret(ctx context.Context, script, name string, value []byte) error {
	resp, err := c.raw(ctx, http.MethodPut, scriptPath(script)+"/secrets/"+url.PathEscape(name), value,
		http.Header{"Content-Type": {"text/plain"}})
	if err != nil {
		return err
	}
	if resp.Status/100 != 2 {
		return problemError(resp.Status, resp.Body)
	}
	return nil
}

// SecretNames lists the names of a script's secrets (never their values).
func (c *Client) SecretNames(ctx context.Context, script string) ([]string, error) {
	var out struct {
		Secrets []string `json:"secrets"`
	}
	_, err := c.do(ctx, http.MethodGet, scriptPath(script)+"/secrets", nil, nil, nil, &out)
	return out.Secrets, err
}

func scriptPath(name string) string { return "/_scripts/" + url.PathEscape(name) }
