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

	"github.com/dobj/dobj/apitypes"
)

// Scripts (issue 20): a Workers project deployed as one script, its
// secrets, and the listing.

// The JSON shapes of the /_scripts routes, defined once in apitypes.
type (
	ScriptMetadata  = apitypes.ScriptMetadata
	ScriptBinding   = apitypes.ScriptBinding
	ScriptMigration = apitypes.ScriptMigration
	RenamedClass    = apitypes.RenamedClass
	ScriptRoute     = apitypes.ScriptRoute
	ScriptClass     = apitypes.ScriptClass
	Script          = apitypes.Script
	ScriptDeployed  = apitypes.ScriptDeployed
)

// Binding types of ScriptBinding, as Cloudflare names them.
const (
	BindingDurableObject = apitypes.BindingDurableObject
	BindingService       = apitypes.BindingService
	BindingText          = apitypes.BindingText
	BindingJSON          = apitypes.BindingJSON
)

// ScriptModule is one module part of an upload.
type ScriptModule struct {
	Name    string
	Content []byte
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
