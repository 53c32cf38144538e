package classes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// Global fetch (js/fetch.js) reaches only the hosts the operator allows
// (Config.OutboundAllow). A fetch is the call's outbound I/O like a
// stub's RPC (asyncio.go): it runs on its own goroutine — for a call
// that may lend its gate, only once the writes before it are committed
// (reentry.go) — and the call's event loop settles its promise on the
// runtime when it completes.

// DefaultOutboundTimeout bounds one outbound fetch unless
// Config.OutboundTimeout says otherwise.
const DefaultOutboundTimeout = 30 * time.Second

// maxOutbound bounds the fetches one call has in flight at once.
const maxOutbound = 32

// outbound is one fetch in flight, which abortFetch can cancel.
type outbound struct {
	id     int64
	cancel context.CancelFunc
}

// fetched is what a finished fetch got.
type fetched struct {
	res  *http.Response
	url  string
	body []byte
	err  error
}

// hostAllowed reports whether u's host and port match one of patterns:
// "host" (the scheme's default port), "host:port", "host:*" (any port),
// "*.domain" (any name under domain, with the same port rules) or "*"
// (any host). Names compare without case.
func hostAllowed(patterns []string, u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "*" {
			return true
		}
		ph, pp := p, ""
		if h, pt, err := net.SplitHostPort(p); err == nil {
			ph, pp = h, pt
		} else if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
			ph = p[1 : len(p)-1]
		}
		if pp == "" {
			pp = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		if pp != "*" && pp != port {
			continue
		}
		if d, ok := strings.CutPrefix(ph, "*."); ok {
			if strings.HasSuffix(host, "."+d) {
				return true
			}
		} else if ph == host {
			return true
		}
	}
	return false
}

// CheckHostPattern reports what is wrong with an OutboundAllow pattern,
// nil if nothing: a host name or IP address, optionally "*." before a
// name, optionally ":port" or ":*" after it; or "*".
func CheckHostPattern(p string) error {
	if p == "*" {
		return nil
	}
	host, port := p, ""
	if h, pt, err := net.SplitHostPort(p); err == nil {
		host, port = h, pt
	} else if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"), ":") && net.ParseIP(strings.Trim(p, "[]")) == nil {
		return fmt.Errorf("host pattern %q: want host, host:port, host:*, *.domain or *", p)
	}
	host = strings.TrimPrefix(strings.Trim(host, "[]"), "*.")
	if host == "" || strings.ContainsAny(host, "*/?#@ ") {
		return fmt.Errorf("host pattern %q: want host, host:port, host:*, *.domain or *", p)
	}
	if port != "*" && port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("host pattern %q: the port must be 1 to 65535 or *", p)
		}
	}
	return nil
}

// outboundClient is the engine's client for fetch: no cookies, and every
// redirect checked against the allowed hosts.
func outboundClient(allow []string) *http.Client {
	return &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.Context().Value(manualRedirect{}) != nil {
				return http.ErrUseLastResponse
			}
			if len(via) >= 20 {
				return errors.New("too many redirects")
			}
			if !hostAllowed(allow, req.URL) {
				return fmt.Errorf("the redirect to %s is not allowed: dobj serve --outbound-allow", req.URL.Host)
			}
			return nil
		},
	}
}

// fetch(method, url, "name\0value\0…", body, redirect, resolve, reject)
// starts an outbound fetch and returns its id (for abortFetch); resolve
// gets [status, statusText, headers, body ArrayBuffer, url], reject an
// error. A host not allowed is a TypeError thrown at once (the prelude
// turns it into a rejection).
func (vm *vm) fetch(fc goja.FunctionCall) goja.Value {
	c := vm.call
	if c == nil {
		vm.typeError("fetch: outbound I/O is only possible within a call, not at the module's top level")
	}
	u, err := url.Parse(fc.Argument(1).String())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		vm.typeError("fetch: %s is not an http or https URL", fc.Argument(1).String())
	}
	if !hostAllowed(vm.cfg.OutboundAllow, u) {
		vm.typeError("outbound fetch to %s is not allowed: dobj serve --outbound-allow", u.Host)
	}
	if len(c.outbound) >= maxOutbound {
		vm.typeError("fetch: more than %d fetches in flight in one call", maxOutbound)
	}
	req, err := vm.outboundRequest(fc, u)
	if err != nil {
		vm.typeError("fetch: %v", err)
	}
	c.nextOutbound++
	op := &outbound{id: c.nextOutbound}
	resolve, _ := goja.AssertFunction(fc.Argument(5))
	reject, _ := goja.AssertFunction(fc.Argument(6))
	base := c.ctx
	if fc.Argument(4).String() == "manual" {
		base = context.WithValue(base, manualRedirect{}, true)
	}
	ctx, cancel := context.WithCancel(base)
	op.cancel = cancel
	c.outbound = append(c.outbound, op)
	client, max, timeout := vm.cfg.outbound, vm.cfg.MaxResponseBytes, vm.cfg.OutboundTimeout
	// A global fetch stays the call's: it is aborted when the call ends.
	c.startIO(func(context.Context) func() error {
		ctx, stop := context.WithTimeout(ctx, timeout) // from when it leaves
		defer stop()
		got := doFetch(client, req.WithContext(ctx), max)
		return func() error { return vm.completed(op, got, resolve, reject) }
	})
	return vm.rt.ToValue(op.id)
}

// doFetch sends req and reads its response's body whole, up to max bytes.
func doFetch(client *http.Client, req *http.Request, max int) (f fetched) {
	f.res, f.err = client.Do(req)
	if f.err != nil {
		return f
	}
	f.url = f.res.Request.URL.String()
	f.body, f.err = io.ReadAll(io.LimitReader(f.res.Body, int64(max)+1))
	f.res.Body.Close()
	if f.err == nil && len(f.body) > max {
		f.err = fmt.Errorf("%w: the fetched response's body is over %d bytes", ErrResponseTooLarge, max)
	}
	return f
}

// abortFetch(id) cancels the call's fetch id, if it is still in flight.
func (vm *vm) abortFetch(fc goja.FunctionCall) goja.Value {
	if c := vm.call; c != nil {
		id := fc.Argument(0).ToInteger()
		for _, op := range c.outbound {
			if op.id == id {
				op.cancel()
			}
		}
	}
	return goja.Undefined()
}

// outboundRequest builds the http.Request of fetch's arguments.
func (vm *vm) outboundRequest(fc goja.FunctionCall, u *url.URL) (*http.Request, error) {
	var body io.Reader
	switch b := fc.Argument(3).(type) {
	case goja.String:
		body = strings.NewReader(b.String())
	case *goja.Object:
		if ab, ok := b.Export().(goja.ArrayBuffer); ok {
			body = bytes.NewReader(bytes.Clone(ab.Bytes()))
		}
	}
	req, err := http.NewRequest(fc.Argument(0).String(), u.String(), body)
	if err != nil {
		return nil, err
	}
	fields := strings.Split(fc.Argument(2).String(), "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	return req, nil
}

// manualRedirect marks a request whose redirects are answered, not
// followed (fetch's redirect: "manual").
type manualRedirect struct{}

// completed settles a finished fetch's promise, on the runtime.
func (vm *vm) completed(op *outbound, f fetched, resolve, reject goja.Callable) error {
	c := vm.call
	op.cancel()
	for i, o := range c.outbound {
		if o == op {
			c.outbound = append(c.outbound[:i], c.outbound[i+1:]...)
			break
		}
	}
	if f.err != nil {
		ctor := vm.hooks.typeErrorCtor
		if errors.Is(f.err, ErrResponseTooLarge) {
			ctor = vm.hooks.rangeErrorCtor
		}
		_, err := reject(goja.Undefined(), vm.errorValue(ctor, fmt.Errorf("fetch failed: %w", f.err)))
		return err
	}
	var hs strings.Builder // as Headers keeps them: Set-Cookie's values by newlines
	for name, vs := range f.res.Header {
		sep := ", "
		if name == "Set-Cookie" {
			sep = "\n"
		}
		hs.WriteString(strings.ToLower(name) + "\x00" + strings.Join(vs, sep) + "\x00")
	}
	status := f.res.StatusCode
	text := strings.TrimSpace(strings.TrimPrefix(f.res.Status, fmt.Sprint(status)))
	_, err := resolve(goja.Undefined(), vm.rt.NewArray(status, text, hs.String(), vm.rt.NewArrayBuffer(f.body), f.url))
	return err
}

// errorValue is an error made by ctor for err, remembered for the call's
// ScriptError as throw remembers it, but returned rather than thrown.
func (vm *vm) errorValue(ctor *goja.Object, err error) goja.Value {
	obj, e := vm.rt.New(ctor, vm.rt.ToValue(err.Error()))
	if e != nil {
		return vm.rt.ToValue(err.Error())
	}
	if c := vm.call; c != nil {
		if c.thrown == nil {
			c.thrown = make(map[*goja.Object]error)
		}
		c.thrown[obj] = err
	}
	return obj
}
