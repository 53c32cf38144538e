package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// forwarding is the state of one proxied request, carried in its context.
type forwarding struct {
	target *url.URL
	write  bool
	// connected is set once the transport holds a connection to the
	// leader: from then on the request may have reached it.
	connected atomic.Bool
}

type forwardingKey struct{}

func (s *Server) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			f := pr.In.Context().Value(forwardingKey{}).(*forwarding)
			pr.Out.URL.Scheme = f.target.Scheme
			pr.Out.URL.Host = f.target.Host
			pr.Out.Host = f.target.Host
			pr.Out.Header.Set(headerForwarded, s.forwardedAs())
			pr.SetXForwarded()
		},
		Transport:    s.transport,
		ErrorHandler: s.proxyFailed,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) forwardedAs() string {
	if s.cfg.NodeID == "" {
		return "unknown"
	}
	return s.cfg.NodeID
}

// forward proxies the request to the leader. body, when not nil, replaces
// the request body (the handler has read it already). A request that was
// forwarded once already and landed on a non-leader again is refused (the
// loop guard), as is one when no leader is known: both 503, not applied.
func (s *Server) forward(c echo.Context, body []byte) error {
	r := c.Request()
	if len(r.Header.Values(headerForwarded)) > 0 {
		return &apiError{http.StatusServiceUnavailable, "this node is not the leader and the request was already forwarded once; not applied"}
	}
	id, addr := s.node.Leader()
	if addr == "" || id == s.cfg.NodeID {
		return &apiError{http.StatusServiceUnavailable, "no leader is known; not applied"}
	}
	scheme := "http"
	if s.cfg.ProxyTLS != nil {
		scheme = "https"
	}
	target, err := leaderURL(addr, scheme)
	if err != nil {
		s.log.Error("leader has an unusable http address", "leader", id, "addr", addr, "err", err)
		return &apiError{http.StatusServiceUnavailable, "the leader's address is unusable; not applied"}
	}
	f := &forwarding{target: target, write: r.Method != http.MethodGet && r.Method != http.MethodHead}
	ctx := context.WithValue(r.Context(), forwardingKey{}, f)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { f.connected.Store(true) },
	})
	out := r.WithContext(ctx)
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	s.proxy.ServeHTTP(c.Response(), out)
	return errHandled
}

// proxyFailed answers a request whose forwarding failed. Before a
// connection to the leader existed nothing was sent: 503. After, a write
// may have reached the leader and be applied: 504. Reads change nothing,
// so a failed read is always 503.
func (s *Server) proxyFailed(w http.ResponseWriter, r *http.Request, err error) {
	f, _ := r.Context().Value(forwardingKey{}).(*forwarding)
	p := newProblem(http.StatusServiceUnavailable, "the leader could not be reached; not applied")
	if f == nil || (f.write && f.connected.Load()) {
		p = newProblem(http.StatusGatewayTimeout, "the connection to the leader failed after the request was sent; the command may or may not have been applied")
	}
	target := ""
	if f != nil {
		target = f.target.Host
	}
	s.log.Warn("forwarding to the leader failed", "leader", target, "method", r.Method,
		"path", r.URL.EscapedPath(), "status", p.Status, "err", err)
	writeProblem(w, p)
}

// leaderURL turns a published HTTP address ("host:port" or a URL) into the
// proxy's target; a bare host:port gets scheme.
func leaderURL(addr, scheme string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = scheme + "://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, &url.Error{Op: "parse", URL: addr, Err: errInternal}
	}
	return u, nil
}
