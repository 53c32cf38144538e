package api

import (
	"net/http"
	"strings"

	"github.com/dobj/dobj/auth"
	"github.com/labstack/echo/v4"
)

// Authorizer says which role a bearer token has; *auth.Store is one.
type Authorizer interface {
	Role(token string) auth.Role
}

// requiredRole is the role a request needs: none for the probes and the
// console's page, files and sign-in (which hold no data), admin for
// membership, classes, scripts, SQL objects, backups and fault injection, read for other GETs,
// write for the rest.
func requiredRole(method, path string) auth.Role {
	switch {
	case path == "/_health" || path == "/_ready":
		return auth.RoleNone
	case path == "/" || strings.HasPrefix(path, "/_console/"):
		return auth.RoleNone
	case path == "/_cluster/join", strings.HasPrefix(path, "/_cluster/members"),
		strings.HasPrefix(path, "/_cluster/backup"), strings.HasPrefix(path, "/_classes"),
		strings.HasPrefix(path, "/_scripts"), strings.HasPrefix(path, "/_sql/"),
		strings.HasPrefix(path, "/_test/"):
		return auth.RoleAdmin
	case strings.HasPrefix(path, "/do/"):
		// A call runs code that may write, whatever its method.
		return auth.RoleWrite
	case method == http.MethodGet || method == http.MethodHead:
		return auth.RoleRead
	default:
		return auth.RoleWrite
	}
}

// authenticate checks the request's token (a bearer header, or the
// console's session cookie: session.go) against cfg.Auth: 401 without a known
// token, 403 with too weak a role. The token is never logged or echoed.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		need := requiredRole(r.Method, r.URL.Path)
		if need == auth.RoleNone {
			return next(c)
		}
		id, ok := s.requestIdentity(r)
		role := auth.RoleNone
		if ok {
			role = s.cfg.Auth.Role(id.token)
		}
		switch {
		case role == auth.RoleNone:
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="dobj"`)
			return &apiError{http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer TOKEN)"}
		case role < need:
			return &apiError{http.StatusForbidden, "this token's role is " + role.String() + "; this request needs " + need.String()}
		}
		c.Set(ctxIdentity, id)
		return next(c)
	}
}

// ctxIdentity is the key under which authenticate leaves the request's
// identity in the echo context.
const ctxIdentity = "dobj.identity"

// identity is who a request came as: its token and, when the token came
// from the console's cookie, the session.
type identity struct {
	token   string
	session string
}

// Reauthorize checks what was opened with a token against the auth file
// again, after it was reloaded (serve calls it on SIGHUP): every watch
// and WebSocket whose token no longer has the role it needs ends, and
// every console session whose token the file no longer holds. It returns
// how many streams ended.
func (s *Server) Reauthorize() int {
	if s.cfg.Auth == nil {
		return 0
	}
	sessions := s.sessions.keepOnly(func(token string) bool { return s.cfg.Auth.Role(token) != auth.RoleNone })
	n := s.streams.revoke(func(st *openStream) bool { return s.cfg.Auth.Role(st.token) < st.need })
	if n > 0 || sessions > 0 {
		s.log.Info("ended what revoked tokens held", "streams", n, "console_sessions", sessions)
	}
	return n
}

// bearer extracts the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
