package api

import (
	"net/http"
	"strings"
)

// Class code is served from the console's origin (/do/ on the API
// port), so what it may do to that origin is bounded here: it never sees
// dobj's own cookies (the console's session), it cannot set them, and
// its answers are sandboxed — a browser runs no script of theirs with
// the origin's rights and guesses no content type.

// classResponseHeaders are set on every /do/ answer; a class may add
// to them (every Content-Security-Policy applies) but not remove them.
var classResponseHeaders = map[string]string{
	"Content-Security-Policy": "sandbox",
	"X-Content-Type-Options":  "nosniff",
}

// isDobjCookie reports whether a cookie name is one of dobj's: dobj_…,
// with or without a __Host- or __Secure- prefix.
func isDobjCookie(name string) bool {
	name = strings.TrimSpace(name)
	name = strings.TrimPrefix(strings.TrimPrefix(name, "__Host-"), "__Secure-")
	return strings.HasPrefix(name, "dobj_")
}

// stripDobjCookies removes dobj's cookies from the Cookie headers of h
// (a class request's), keeping every other cookie as it was written.
func stripDobjCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(part) != "" && !isDobjCookie(name) {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, line := range kept {
		h.Add("Cookie", line)
	}
}

// classHeader copies a class's response header into h, leaving out any
// Set-Cookie of dobj's cookies and the framing headers the server sets.
func classHeader(h, from http.Header) {
	for k, vs := range from {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		setCookie := strings.EqualFold(k, "Set-Cookie")
		for _, v := range vs {
			if name, _, _ := strings.Cut(v, "="); setCookie && isDobjCookie(name) {
				continue
			}
			h.Add(k, v)
		}
	}
}
