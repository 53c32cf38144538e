package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/dobj/dobj/auth"
	"github.com/labstack/echo/v4"
)

// The console signs in with a cookie. A browser cannot put a bearer token
// on the page it navigates to, on an EventSource or on a WebSocket, so the
// console posts the token once to /_console/session, which keeps it in an
// HttpOnly, SameSite=Strict cookie that the browser then sends with every
// request of the page. A cookie rides along with requests other pages
// make too, so it counts only for requests from no page or from a page of
// this cluster (see trustedOrigin); a bearer header counts always.

// tokenCookie is the cookie that carries the console's token.
const tokenCookie = "dobj_token"

// maxSessionBody bounds a sign-in's body.
const maxSessionBody = 4 << 10

// session is the answer of /_console/session: whether the node asks for
// tokens, and the role of the request's token ("none" without one).
type session struct {
	Auth bool   `json:"auth"`
	Role string `json:"role,omitempty"`
}

// requestToken is the request's token: its bearer header, else the
// console's cookie when the request comes from a page that may use it.
func (s *Server) requestToken(r *http.Request) (string, bool) {
	if token, ok := bearer(r.Header.Get("Authorization")); ok {
		return token, true
	}
	c, err := r.Cookie(tokenCookie)
	if err != nil || c.Value == "" || !s.trustedOrigin(r) {
		return "", false
	}
	return c.Value, true
}

// trustedOrigin reports whether a request's cookie may stand for its
// sender: one a browser says is cross-site never does; one without an
// Origin comes from no page or is a same-origin GET (browsers send Origin
// with every cross-origin request and with same-origin ones but GET and
// HEAD); one with an Origin must come from this node's pages or another
// member's (the console's cluster panel reads each member's status).
func (s *Server) trustedOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	return origin == "" || s.memberOrigin(r, origin)
}

// memberOrigin reports whether origin is a page of this node or of a
// member of its cluster.
func (s *Server) memberOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	for _, m := range s.node.Status().Members {
		if m.HTTPAddr != "" && m.HTTPAddr == u.Host {
			return true
		}
	}
	return false
}

// getSession answers whether the node asks for tokens and the role the
// request carries.
func (s *Server) getSession(c echo.Context) error {
	if s.cfg.Auth == nil {
		return c.JSON(http.StatusOK, session{})
	}
	role := auth.RoleNone
	if token, ok := s.requestToken(c.Request()); ok {
		role = s.cfg.Auth.Role(token)
	}
	return c.JSON(http.StatusOK, session{Auth: true, Role: role.String()})
}

// signIn checks the posted token and keeps it in the console's cookie.
func (s *Server) signIn(c echo.Context) error {
	r := c.Request()
	if s.cfg.Auth == nil {
		return c.JSON(http.StatusOK, session{})
	}
	if !s.trustedOrigin(r) {
		return &apiError{http.StatusForbidden, "sign in from a page of this cluster"}
	}
	var in struct {
		Token string `json:"token"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSessionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Token == "" {
		return &apiError{http.StatusBadRequest, `the body must be {"token": "…"}`}
	}
	role := s.cfg.Auth.Role(in.Token)
	if role == auth.RoleNone {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="dobj"`)
		return &apiError{http.StatusUnauthorized, "this token is not known"}
	}
	if !cookieSafe(in.Token) {
		// net/http would drop the bytes and log them: never.
		return &apiError{http.StatusBadRequest, "this token holds characters a cookie cannot carry; the console needs a token of letters, digits and punctuation other than \" , ; \\"}
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: tokenCookie, Value: in.Token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
	return c.JSON(http.StatusOK, session{Auth: true, Role: role.String()})
}

// signOut drops the console's cookie.
func (s *Server) signOut(c echo.Context) error {
	http.SetCookie(c.Response(), &http.Cookie{Name: tokenCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(c.Request())})
	return c.NoContent(http.StatusNoContent)
}

// secure reports whether r came over TLS, so the cookie must not go
// over anything else.
func (s *Server) secure(r *http.Request) bool { return s.cfg.HTTPS || r.TLS != nil }

// cookieSafe reports whether token can be a cookie's value as it is
// (RFC 6265's cookie-octet).
func cookieSafe(token string) bool {
	for i := 0; i < len(token); i++ {
		b := token[i]
		if b <= ' ' || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
