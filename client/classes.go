package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// Object classes (issue 14): deploy, list, and call.

// Class is one deployed class (GET /_classes).
type Class struct {
	Name    string `json:"name"`
	Lang    string `json:"lang"`
	Version uint64 `json:"version"`
}

// Deploy registers or replaces class from source; lang is "js" or "ts".
// It returns the class's version (the Raft index that committed it).
func (c *Client) Deploy(ctx context.Context, class string, source []byte, lang string) (uint64, error) {
	ct := "application/javascript"
	if lang == "ts" {
		ct = "application/typescript"
	}
	resp, err := c.raw(ctx, http.MethodPut, "/_classes/"+url.PathEscape(class), source, http.Header{"Content-Type": {ct}})
	if err != nil {
		return 0, err
	}
	var out struct {
		Version uint64 `json:"version"`
	}
	if resp.Status/100 != 2 {
		return 0, &Error{Status: resp.Status, Title: http.StatusText(resp.Status)}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return 0, fmt.Errorf("decode deploy answer: %w", err)
	}
	return out.Version, nil
}

// Classes lists the deployed classes.
func (c *Client) Classes(ctx context.Context) ([]Class, error) {
	var out struct {
		Classes []Class `json:"classes"`
	}
	_, err := c.do(ctx, http.MethodGet, "/_classes", nil, nil, nil, &out)
	return out.Classes, err
}

// ClassSource returns a deployed class's source.
func (c *Client) ClassSource(ctx context.Context, class string) ([]byte, error) {
	resp, err := c.raw(ctx, http.MethodGet, "/_classes/"+url.PathEscape(class), nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		return nil, &Error{Status: resp.Status, Title: http.StatusText(resp.Status)}
	}
	return resp.Body, nil
}

// DeleteClass removes a class (its objects' storage stays).
func (c *Client) DeleteClass(ctx context.Context, class string) (bool, error) {
	var out struct {
		Deleted bool `json:"deleted"`
	}
	_, err := c.do(ctx, http.MethodDelete, "/_classes/"+url.PathEscape(class), nil, nil, nil, &out)
	return out.Deleted, err
}

// CallRequest is one call of a class object's fetch.
type CallRequest struct {
	Method string // default GET
	// Path is relative to the object ("increment", "a/b?x=1"): it is sent
	// as is after /do/<Class>/<name>/, query included.
	Path           string
	Header         http.Header
	Body           []byte
	IdempotencyKey string
}

// Response is a class call's answer, whatever its status: a fetch that
// answers 4xx is a Response, not an error. Errors are those of dobj
// itself (404 unknown class, 500 the code threw, 503, 504), as *Error.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Index  uint64 // X-Dobj-Index: the call's command
}

// Call runs fetch of object name of class. A class's own answers come
// back as a Response; dobj's problems (application/problem+json with
// status 404, 500, 503, 504, …) as *Error, so Unknown(err) tells whether
// a failed call may still have committed.
func (c *Client) Call(ctx context.Context, class, name string, r CallRequest) (*Response, error) {
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
	p := "/do/" + url.PathEscape(class) + "/" + url.PathEscape(name) + "/" + strings.TrimPrefix(r.Path, "/")
	return c.raw(ctx, method, p, r.Body, h)
}

// raw sends one request and returns the answer whatever its status, except
// that a problem+json answer (dobj's own error) is an *Error.
func (c *Client) raw(ctx context.Context, method, path string, body []byte, header http.Header) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, c.base+path, rd, header)
	if err != nil {
		return nil, err
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}))
	resp, err := c.hc.Do(req)
	if err != nil {
		if !wrote.Load() {
			return nil, &notSentError{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Dobj-Index"), 10, 64)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || resp.StatusCode == http.StatusGatewayTimeout {
		return nil, problemError(resp.StatusCode, data)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Index: index}, nil
}
