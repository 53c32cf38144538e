package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/host"
	"github.com/labstack/echo/v4"
)

// isWebSocketUpgrade reports whether r asks for a WebSocket (RFC 6455:
// a GET with Upgrade: websocket; Connection: Upgrade is checked by the
// handshake).
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// callOrUpgrade runs a call, or serves an upgrade request (then nil,
// nil means the socket was accepted).
func (s *Server) callOrUpgrade(ctx context.Context, c echo.Context, class string, id classes.StubID, req *classes.Request, idem string) (*host.CallResult, error) {
	if isWebSocketUpgrade(c.Request()) {
		return s.serveWebSocket(c, class, id, req)
	}
	return s.classes.CallStub(ctx, class, id, req, idem)
}

// serveWebSocket hands an upgrade request to the node: fetch of the
// object runs on the leader; when it accepts a WebSocket the handshake is
// done and serveWebSocket returns nil, nil; otherwise it returns fetch's
// answer or the error, which callClass answers as for any call.
func (s *Server) serveWebSocket(c echo.Context, class string, id classes.StubID, req *classes.Request) (*host.CallResult, error) {
	return s.classes.ServeWebSocket(c.Response(), c.Request(), class, id, req)
}
