package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// ProblemListener wraps the listener an http.Server serves this API on so
// that the answers net/http writes by itself, before any handler runs,
// are problem+json like every other error: a request line and headers
// larger than the server reads (431, e.g. a multi-megabyte key in the
// URL), a malformed request (400), an unsupported transfer encoding (501)
// or protocol version (505). net/http writes those straight to the
// connection as text/plain, with no hook to change them, so the
// connection's Write recognises them and rewrites them.
//
// maxHeaderBytes is the server's http.Server.MaxHeaderBytes (0: net/http's
// default), named in the 431's detail.
func ProblemListener(ln net.Listener, maxHeaderBytes int) net.Listener {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	return &problemListener{Listener: ln, maxHeaderBytes: maxHeaderBytes}
}

type problemListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l *problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c, maxHeaderBytes: l.maxHeaderBytes}, nil
}

// problemConn rewrites net/http's canned error answers; every other write
// passes through untouched.
type problemConn struct {
	net.Conn
	maxHeaderBytes int
}

// cannedHeaders is what net/http (server.go, conn.serve) writes after the
// status line of an answer it makes itself, in the same Write as the
// status line and the body. A response of this API cannot look like it:
// net/http writes a handler's headers in sorted order (Connection before
// Content-Type) with a Date, and a JSON body holds no raw CR or LF.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *problemConn) Write(p []byte) (int, error) {
	status, explanation, ok := parseCanned(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(c.cannedProblem(status, explanation)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close the connection after a 431, as it
// does on a bare TCP connection, so that the client reads the answer
// before the connection goes.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// parseCanned recognises "HTTP/1.1 NNN Text[: explanation]" + cannedHeaders
// + body, and returns the status and the explanation (empty if none).
func parseCanned(p []byte) (status int, explanation string, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return 0, "", false
	}
	line, _, found := bytes.Cut(rest, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest[len(line):], []byte(cannedHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	if _, e, found := bytes.Cut(line, []byte(": ")); found {
		explanation = string(e)
	}
	return status, explanation, true
}

// cannedProblem is the whole HTTP/1.1 answer for a canned error, as
// problem+json; the connection closes after it, as net/http intended.
func (c *problemConn) cannedProblem(status int, explanation string) []byte {
	var detail string
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		detail = fmt.Sprintf("the request line and headers are larger than %d bytes; nothing was applied", c.maxHeaderBytes)
	case explanation != "":
		detail = "the request is not valid HTTP/1.1: " + explanation + "; nothing was applied"
	default:
		detail = "the request is not valid HTTP/1.1; nothing was applied"
	}
	body, err := json.Marshal(newProblem(status, detail))
	if err != nil {
		body = []byte(`{"type":"bad-request","title":"Bad Request","status":400,"detail":"malformed request"}`)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), len(body))
	b.Write(body)
	return b.Bytes()
}
