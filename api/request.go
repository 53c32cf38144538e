package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// pathSegments splits the escaped request path after its leading slash
// into the first segment and the rest. Names and keys are read from the
// escaped path (not Echo's params, which may or may not be decoded) so
// that an encoded "/" stays part of the name or key.
func pathSegments(c echo.Context) (first, rest string) {
	p := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/")
	first, rest, _ = strings.Cut(p, "/")
	return first, rest
}

// objectName is the percent-decoded object name of the request.
func (s *Server) objectName(c echo.Context) (string, error) {
	raw, _ := pathSegments(c)
	name, err := s.decodeObjectName(raw)
	if err != nil {
		return "", err
	}
	switch {
	case name[0] == '_':
		return "", badRequest("object names starting with '_' are reserved")
	case name == "do":
		return "", badRequest("object name \"do\" is reserved for class calls (/do/<Class>/<name>/…)")
	}
	return name, nil
}

// decodeObjectName percent-decodes an object name from a path and checks
// it is 1 to MaxNameBytes bytes of UTF-8: the names of the built-in
// routes and of class objects alike.
func (s *Server) decodeObjectName(raw string) (string, error) {
	name, err := url.PathUnescape(raw)
	switch {
	case err != nil:
		return "", badRequest("object name is not validly percent-encoded")
	case name == "":
		return "", badRequest("object name is empty")
	case len(name) > s.cfg.MaxNameBytes:
		return "", badRequest("object name is longer than %d bytes", s.cfg.MaxNameBytes)
	case !utf8.ValidString(name):
		return "", badRequest("object name is not valid UTF-8")
	}
	return name, nil
}

// storageKey is the percent-decoded key of /<name>/storage/<key>: the whole
// rest of the path, so a key may hold "/".
func (s *Server) storageKey(c echo.Context) (string, error) {
	_, rest := pathSegments(c)
	raw, ok := strings.CutPrefix(rest, "storage/")
	if !ok {
		return "", badRequest("missing key")
	}
	key, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest("key is not validly percent-encoded")
	}
	return key, s.checkKey(key)
}

// checkKey validates a key: 1 to MaxKeyBytes bytes of UTF-8.
func (s *Server) checkKey(key string) error {
	switch {
	case key == "":
		return badRequest("key is empty")
	case len(key) > s.cfg.MaxKeyBytes:
		return tooLarge("key is longer than %d bytes", s.cfg.MaxKeyBytes)
	case !utf8.ValidString(key):
		return badRequest("key is not valid UTF-8")
	}
	return nil
}

// query parses the query string strictly: a malformed one is a 400 rather
// than silently dropped parameters.
func query(c echo.Context) (url.Values, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string")
	}
	return q, nil
}

// consistency reads ?consistency=linearizable|stale; linearizable is the
// default.
func consistency(q url.Values) (linearizable bool, err error) {
	switch q.Get("consistency") {
	case "", "linearizable":
		return true, nil
	case "stale":
		return false, nil
	default:
		return false, badRequest("consistency must be linearizable or stale")
	}
}

// readBody reads the whole body, at most MaxBodyBytes of it.
func (s *Server) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, tooLarge("body is larger than %d bytes", s.cfg.MaxBodyBytes)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("could not read the request body")
	}
	if int64(len(b)) > s.cfg.MaxBodyBytes {
		return nil, tooLarge("body is larger than %d bytes", s.cfg.MaxBodyBytes)
	}
	return b, nil
}

// value canonicalizes a JSON value and checks its size.
func (s *Server) value(raw []byte) (json.RawMessage, error) {
	v, err := canonical(raw)
	if err != nil {
		return nil, err
	}
	if len(v) > s.cfg.MaxValueBytes {
		return nil, tooLarge("value is larger than %d bytes", s.cfg.MaxValueBytes)
	}
	return v, nil
}

// canonical re-encodes a JSON value compactly with object keys sorted and
// number literals kept as written, so that equal JSON is equal bytes (the
// objects package compares values with bytes.Equal). Duplicate object keys
// keep the last value.
func canonical(raw []byte) (json.RawMessage, error) {
	if err := checkDepth(raw, "value"); err != nil {
		return nil, err
	}
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return nil, badRequest("value is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("value is not valid JSON")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, badRequest("value is not valid JSON")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// parseInt64 parses a base-10 int64 (the "by" of counters).
func parseInt64(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// writeJSON writes v as compact JSON without HTML escaping, so stored
// values come back byte for byte.
func writeJSON(c echo.Context, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return errInternal
	}
	return c.Blob(status, echo.MIMEApplicationJSON, buf.Bytes())
}
