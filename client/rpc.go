package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// RPC calls method(args…) of the object called name of class in script,
// without a Worker (POST /_scripts/<script>/objects/<class>/<name>/rpc/
// <method>), and returns the result's JSON; nil when the method returned
// undefined. A method that threw is an *Error (500) whose Detail is
// "<Name>: <message>".
func (c *Client) RPC(ctx context.Context, script, class, name, method string, args ...json.RawMessage) (json.RawMessage, error) {
	return c.RPCKeyed(ctx, "", script, class, name, method, args...)
}

// RPCKeyed is RPC with an Idempotency-Key (none: ""): a call answered
// 504 (Error.Unknown) can be sent again with the same key, which
// answers the first result and applies nothing again.
func (c *Client) RPCKeyed(ctx context.Context, idemKey, script, class, name, method string, args ...json.RawMessage) (json.RawMessage, error) {
	if args == nil {
		args = []json.RawMessage{}
	}
	body, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	p := "/_scripts/" + url.PathEscape(script) + "/objects/" + url.PathEscape(class) + "/" + url.PathEscape(name) +
		"/rpc/" + url.PathEscape(method)
	h := http.Header{"Content-Type": {"application/json"}}
	if idemKey != "" {
		h.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.raw(ctx, http.MethodPost, p, body, h)
	if err != nil {
		return nil, err
	}
	if resp.Status >= 400 {
		return nil, &Error{Status: resp.Status, Detail: string(resp.Body)}
	}
	if resp.Status == http.StatusNoContent {
		return nil, nil
	}
	return resp.Body, nil
}
