package classes

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// requestValue is req as a JavaScript Request. Header names are lower
// case; several values of one name are joined with ", " as Headers joins
// them (Set-Cookie's with newlines, as Headers keeps them).
//
// It is built here rather than by a prelude function: a call into
// JavaScript, its global lookups and its assignments (each one walks
// Request's prototype chain for a setter) cost more than the rest of
// the request, on a runtime that is usually cold in the CPU's caches.
// The Request gets its own url, method, _body and _hs: the headers as
// one string, "name\0value\0…" (neither holds a NUL), which Body's
// headers getter turns into Headers when the class first reads them.
func (vm *vm) requestValue(req *Request) (goja.Value, error) {
	rt := vm.rt
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	var hs strings.Builder
	for _, k := range names {
		lk := strings.ToLower(k)
		vs := req.Header[k]
		if !validHeaderName(lk) || len(vs) == 0 {
			continue
		}
		sep := ", "
		if lk == "set-cookie" {
			sep = "\n"
		}
		hs.WriteString(lk)
		hs.WriteByte(0)
		for i, v := range vs {
			if i > 0 {
				hs.WriteString(sep)
			}
			hs.WriteString(strings.Map(dropNUL, v))
		}
		hs.WriteByte(0)
	}
	body := goja.Null()
	if len(req.Body) > 0 {
		body = rt.ToValue(rt.NewArrayBuffer(bytes.Clone(req.Body)))
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	r := rt.CreateObject(vm.hooks.requestProto)
	for _, p := range [...]struct {
		name  string
		value goja.Value
	}{
		{"url", rt.ToValue(req.URL)},
		{"method", rt.ToValue(method)},
		{"_hs", rt.ToValue(hs.String())},
		{"_body", body},
	} {
		if err := r.DefineDataProperty(p.name, p.value, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// dropNUL removes NUL from header values (HTTP forbids it; the request
// passes headers NUL-separated).
func dropNUL(r rune) rune {
	if r == 0 {
		return -1
	}
	return r
}

// validHeaderName reports whether s is an HTTP token (RFC 9110), as
// Headers accepts names.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// arrayBufferType is what a goja ArrayBuffer exports as.
var arrayBufferType = reflect.TypeFor[goja.ArrayBuffer]()

// response converts responseParts' [status, "name\0value\0…", body].
// Set-Cookie values, kept newline-separated, become one header line each.
// The status, names and values are checked again, though Response checks
// them, because a class can reach into a Response's fields; headers count
// against MaxResponseBytes with the body.
func (vm *vm) response(parts *goja.Object) (*Response, error) {
	max := vm.cfg.MaxResponseBytes
	status := parts.Get("0").ToInteger()
	if status < 200 || status > 599 {
		return nil, &ScriptError{Message: fmt.Sprintf("the Response's status %d is not in the range 200 to 599", status)}
	}
	resp := &Response{Status: int(status), Header: http.Header{}}
	hs := parts.Get("1").String()
	if len(hs) > max {
		return nil, errorf(ErrResponseTooLarge, "the headers are over %d bytes", max)
	}
	fields := strings.Split(hs, "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		if !validHeaderName(fields[i]) || strings.ContainsAny(fields[i+1], "\r\x00") {
			return nil, &ScriptError{Message: fmt.Sprintf("the Response has an invalid header %q", fields[i])}
		}
		name := http.CanonicalHeaderKey(fields[i])
		if name == "Set-Cookie" {
			for _, c := range strings.Split(fields[i+1], "\n") {
				resp.Header.Add(name, c)
			}
			continue
		}
		if strings.Contains(fields[i+1], "\n") {
			return nil, &ScriptError{Message: fmt.Sprintf("the Response has an invalid header %q", fields[i])}
		}
		resp.Header[name] = append(resp.Header[name], fields[i+1])
	}
	max -= len(hs)
	switch b := parts.Get("2").(type) {
	case goja.String:
		if b.Length() > max {
			return nil, errorf(ErrResponseTooLarge, "the body is over %d bytes", max)
		}
		resp.Body = []byte(b.String())
	case *goja.Object:
		if b.ExportType() == arrayBufferType {
			ab, _ := b.Export().(goja.ArrayBuffer)
			if len(ab.Bytes()) > max {
				return nil, errorf(ErrResponseTooLarge, "the body is over %d bytes", max)
			}
			resp.Body = bytes.Clone(ab.Bytes())
		}
	}
	if len(resp.Body) > max {
		return nil, errorf(ErrResponseTooLarge, "the body is %d bytes, over %d", len(resp.Body), max)
	}
	return resp, nil
}
