// Package client is a Go client for dobj's HTTP API: the counters,
// storage, transactions, classes, watches and system routes of any node.
// The CLI, the checker and the benchmarks use it. It imports only leaf
// packages of the project for their types: apitypes (the status and digest
// JSON, shared with the server) and objects (the domain's entries,
// transactions and changes), so it links neither Raft nor the JavaScript
// engine (layout_test.go at the module root checks it).
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/objects"
)

// Client talks to one dobj node; the node forwards to the leader.
type Client struct {
	base  string
	hc    *http.Client
	token string // bearer token; empty: none sent
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses hc for every request.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds every request.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		hc := *c.hc
		hc.Timeout = d
		c.hc = &hc
	}
}

// WithToken sends token as "Authorization: Bearer TOKEN" on every
// request (a node started with --auth-file requires one).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithTLSConfig uses cfg for https URLs (for instance pki.ClientConfig of
// the cluster's CA). Give it before WithTimeout, which copies the client.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *Client) {
		if t, ok := c.hc.Transport.(*http.Transport); ok {
			t = t.Clone()
			t.TLSClientConfig = cfg
			hc := *c.hc
			hc.Transport = t
			c.hc = &hc
		}
	}
}

// New returns a client for the node at baseURL ("http://127.0.0.1:8081";
// a bare host:port gets http://). It keeps connections alive.
func New(baseURL string, opts ...Option) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	c := &Client{
		base: strings.TrimRight(baseURL, "/"),
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// URL is the node's base URL.
func (c *Client) URL() string { return c.base }

// Error is an HTTP error answer, decoded from application/problem+json.
type Error struct {
	Status int    `json:"status"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Title)
}

// Unknown reports whether the command may or may not have been applied
// (504 outcome-unknown).
func (e *Error) Unknown() bool { return e.Status == http.StatusGatewayTimeout }

// Unknown reports whether err leaves a write's outcome unknown: a 504, or
// a transport error after the request may have been sent (a timeout, a
// connection broken while waiting for the answer). A 503 or a 4xx is a
// definite failure, and so is a transport error when no attempt wrote the
// request (refused, DNS, dial timeout). Go's HTTP client re-sends some
// requests on a new connection when a kept-alive one breaks, so a refused
// dial after an attempt that was written is still unknown: the client
// records whether any attempt wrote the request.
func Unknown(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Unknown()
	}
	var ns *notSentError
	return !errors.As(err, &ns)
}

// notSentError is a transport error of a request that no attempt wrote.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// WriteOptions modify a write. Key selects the counter's key (default
// "value"); IdempotencyKey makes a retry return the first outcome.
type WriteOptions struct {
	Key            string
	IdempotencyKey string
}

// ReadOptions modify a read. Stale reads the node's local state.
type ReadOptions struct {
	Key   string
	Stale bool
}

// Status, Member and Digest are the JSON of GET /_cluster/status and GET
// /_cluster/digest, defined once in apitypes, which the server fills.
type (
	Status = apitypes.Status
	Member = apitypes.Member
	Digest = apitypes.Digest
)

type counterBody struct {
	Value int64 `json:"value"`
}

// newRequest is a request to url with header, and the client's token:
// every request of the client is made here.
func (c *Client) newRequest(ctx context.Context, method, url string, body io.Reader, header http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// problemError is the *Error of an answer with status and body data: its
// problem+json, or the status's text.
func problemError(status int, data []byte) *Error {
	e := &Error{}
	if json.Unmarshal(data, e) != nil || e.Title == "" {
		e.Title = http.StatusText(status)
	}
	e.Status = status
	return e
}

// do sends one request and decodes a 2xx JSON answer into out (unless nil).
// It returns the answer's X-Dobj-Index.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, header http.Header, out any) (uint64, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, method, u, rd, header)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}))
	resp, err := c.hc.Do(req)
	if err != nil {
		if !wrote.Load() {
			return 0, &notSentError{err}
		}
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, err
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Dobj-Index"), 10, 64)
	if resp.StatusCode/100 != 2 {
		return index, problemError(resp.StatusCode, data)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = append((*raw)[:0], data...)
			return index, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return index, fmt.Errorf("decode %s %s answer: %w", method, path, err)
		}
	}
	return index, nil
}

func objectPath(name string, rest ...string) string {
	p := "/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func writeHeader(o WriteOptions) http.Header {
	h := http.Header{}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	return h
}

func readQuery(o ReadOptions) url.Values {
	q := url.Values{}
	if o.Key != "" {
		q.Set("key", o.Key)
	}
	if o.Stale {
		q.Set("consistency", "stale")
	}
	return q
}

// Increment adds by (negative subtracts) to the counter and returns its new
// value.
func (c *Client) Increment(ctx context.Context, name string, by int64, o WriteOptions) (int64, error) {
	q := url.Values{"by": {strconv.FormatInt(by, 10)}}
	if o.Key != "" {
		q.Set("key", o.Key)
	}
	var out counterBody
	_, err := c.do(ctx, http.MethodPost, objectPath(name, "increment"), q, nil, writeHeader(o), &out)
	return out.Value, err
}

// Counter reads the counter (0 when absent).
func (c *Client) Counter(ctx context.Context, name string, o ReadOptions) (int64, error) {
	var out counterBody
	_, err := c.do(ctx, http.MethodGet, objectPath(name), readQuery(o), nil, nil, &out)
	return out.Value, err
}

// Get reads a storage key; found is false when it is absent.
func (c *Client) Get(ctx context.Context, name, key string, o ReadOptions) (json.RawMessage, bool, error) {
	var out json.RawMessage
	_, err := c.do(ctx, http.MethodGet, objectPath(name, "storage", key), readQuery(ReadOptions{Stale: o.Stale}), nil, nil, &out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// Put stores a JSON value at key.
func (c *Client) Put(ctx context.Context, name, key string, value json.RawMessage, o WriteOptions) error {
	_, err := c.do(ctx, http.MethodPut, objectPath(name, "storage", key), nil, value, writeHeader(o), nil)
	return err
}

// Delete removes key and reports whether it was there.
func (c *Client) Delete(ctx context.Context, name, key string, o WriteOptions) (bool, error) {
	var out struct {
		Deleted bool `json:"deleted"`
	}
	_, err := c.do(ctx, http.MethodDelete, objectPath(name, "storage", key), nil, nil, writeHeader(o), &out)
	return out.Deleted, err
}

// List returns the object's entries in key order, and whether more follow.
func (c *Client) List(ctx context.Context, name string, lo objects.ListOptions, o ReadOptions) ([]objects.Entry, bool, error) {
	q := readQuery(ReadOptions{Stale: o.Stale})
	for k, v := range map[string]string{"prefix": lo.Prefix, "start": lo.Start, "startAfter": lo.StartAfter, "end": lo.End} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if lo.Limit > 0 {
		q.Set("limit", strconv.Itoa(lo.Limit))
	}
	if lo.Reverse {
		q.Set("reverse", "true")
	}
	var out struct {
		Entries []objects.Entry `json:"entries"`
		More    bool            `json:"more"`
	}
	_, err := c.do(ctx, http.MethodGet, objectPath(name, "storage"), q, nil, nil, &out)
	return out.Entries, out.More, err
}

// DeleteAll removes every key of the object and returns how many.
func (c *Client) DeleteAll(ctx context.Context, name string, o WriteOptions) (int64, error) {
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	_, err := c.do(ctx, http.MethodDelete, objectPath(name, "storage"), nil, nil, writeHeader(o), &out)
	return out.Deleted, err
}

// Txn runs an atomic compare-then-ops transaction on the object. An
// increment adds its By exactly as set, 0 included (objects.Op always
// sends it); only JSON that leaves "by" out, as the CLI's may, adds 1.
func (c *Client) Txn(ctx context.Context, name string, t objects.Txn, o WriteOptions) (objects.TxnResult, error) {
	var out objects.TxnResult
	_, err := c.do(ctx, http.MethodPost, objectPath(name, "transaction"), nil, t, writeHeader(o), &out)
	return out, err
}

// Status returns the node's view of the cluster.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	_, err := c.do(ctx, http.MethodGet, "/_cluster/status", nil, nil, nil, &out)
	return out, err
}

// Digest returns the node's state digest.
func (c *Client) Digest(ctx context.Context) (Digest, error) {
	var out Digest
	_, err := c.do(ctx, http.MethodGet, "/_cluster/digest", nil, nil, nil, &out)
	return out, err
}

// Ready reports whether the node answers 200 on /_ready.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	_, err := c.do(ctx, http.MethodGet, "/_ready", nil, nil, nil, nil)
	var e *Error
	if errors.As(err, &e) {
		return false, nil
	}
	return err == nil, err
}

// Join asks the cluster to add a voter.
func (c *Client) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	body := map[string]string{"id": id, "raft_addr": raftAddr, "http_addr": httpAddr}
	_, err := c.do(ctx, http.MethodPost, "/_cluster/join", nil, body, nil, nil)
	return err
}

// Remove takes a member out of the cluster.
func (c *Client) Remove(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/_cluster/members/"+url.PathEscape(id), nil, nil, nil, nil)
	return err
}

// Members lists the cluster's members as the node sees them.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	st, err := c.Status(ctx)
	return st.Members, err
}

// Backup streams the cluster's state at a linearizable point (GET
// /_cluster/backup, admin) into w and returns the applied index it holds.
// An answer cut short is an error: the stream is then incomplete.
func (c *Client) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.base+"/_cluster/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	hc := *c.hc
	hc.Timeout = 0 // a large state takes as long as it takes; ctx bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return 0, problemError(resp.StatusCode, data)
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Dobj-Index"), 10, 64)
	if _, err := io.Copy(w, resp.Body); err != nil {
		return 0, fmt.Errorf("backup stream: %w", err)
	}
	return index, nil
}

// Partition cuts the node off from the given members (a node started with
// --test-faults only); an empty list heals.
func (c *Client) Partition(ctx context.Context, blocked []string) error {
	if blocked == nil {
		blocked = []string{}
	}
	_, err := c.do(ctx, http.MethodPost, "/_test/partition", nil, map[string][]string{"blocked": blocked}, nil, nil)
	return err
}

// CloseIdleConnections closes pooled connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
