package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/dobj/dobj/auth"
	"github.com/labstack/echo/v4"
)

// The console signs in with a session kept by the node. A browser cannot
// put a bearer token on the page it navigates to, on an EventSource or on
// a WebSocket, so the console posts the token once to /_console/session;
// the node keeps it in memory under a random id and sets a cookie that
// holds only the id: HttpOnly, SameSite=Strict, Path=/, no Domain, and
// over HTTPS named __Host-… and Secure. Browsers keep a __Host- cookie
// only when it is Secure, which they set only from a secure page, so a
// node serving plain HTTP (loopback, or --insecure) names it without the
// prefix. The name carries the node's id: cookies are kept per host, not
// per port, and the members of a cluster on one host each have their own.
//
// A cookie rides along with requests other pages make too (another port
// of the same host is the same site), so it counts only for requests the
// browser says come from this page or from no page (Sec-Fetch-Site:
// same-origin or none) or whose Origin is a page of a member; a bearer
// header counts always. Signing out ends the session and what it opened;
// a session whose token leaves the auth file ends at the reload
// (Reauthorize), and each ends sessionLifetime after its sign-in.

// Session bounds.
const (
	// maxSessions bounds the sessions a node keeps (about 100 bytes
	// each); a sign-in past it ends the oldest.
	maxSessions = 10_000
	// sessionLifetime is how long a session lasts after its sign-in.
	sessionLifetime = 24 * time.Hour
	// maxSessionBody bounds a sign-in's body.
	maxSessionBody = 4 << 10
)

// session is the answer of /_console/session: whether the node asks for
// tokens, and the role of the request's token ("none" without one).
type session struct {
	Auth bool   `json:"auth"`
	Role string `json:"role,omitempty"`
}

// sessions are the console sessions of a node, by id.
type sessions struct {
	mu   sync.Mutex
	byID map[string]consoleSession
}

// consoleSession is one signed-in console.
type consoleSession struct {
	token   string
	expires time.Time
}

func newSessions() *sessions { return &sessions{byID: map[string]consoleSession{}} }

// create starts a session of token and returns its id.
func (ss *sessions) create(token string, now time.Time) string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand's contract)
	id := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		oldest := ""
		for k, v := range ss.byID {
			if oldest == "" || v.expires.Before(ss.byID[oldest].expires) {
				oldest = k
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[id] = consoleSession{token: token, expires: now.Add(sessionLifetime)}
	return id
}

// token is the token of session id, if it is live.
func (ss *sessions) token(id string, now time.Time) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[id]
	if ok && !now.Before(s.expires) {
		delete(ss.byID, id)
		ok = false
	}
	return s.token, ok
}

// remove ends session id.
func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// keepOnly ends every session whose token keep refuses, and returns how
// many it ended.
func (ss *sessions) keepOnly(keep func(token string) bool) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for id, s := range ss.byID {
		if !keep(s.token) {
			delete(ss.byID, id)
			n++
		}
	}
	return n
}

// len is the number of sessions (tests).
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
}

// sessionCookie is the name of this node's session cookie for r.
func (s *Server) sessionCookie(r *http.Request) string {
	name := "dobj_session"
	if s.cfg.NodeID != "" {
		name += "_" + s.cfg.NodeID // letters, digits, '.', '_', '-': a cookie name may hold them
	}
	if s.secure(r) {
		name = "__Host-" + name
	}
	return name
}

// requestIdentity is the request's token: its bearer header, else the
// token of the console session its cookie names when the request comes
// from a page that may use it (then with the session's id).
func (s *Server) requestIdentity(r *http.Request) (identity, bool) {
	if token, ok := bearer(r.Header.Get("Authorization")); ok {
		return identity{token: token}, true
	}
	c, err := r.Cookie(s.sessionCookie(r))
	if err != nil || c.Value == "" || !s.trustedOrigin(r) {
		return identity{}, false
	}
	token, ok := s.sessions.token(c.Value, time.Now())
	if !ok {
		return identity{}, false
	}
	return identity{token: token, session: c.Value}, true
}

// trustedOrigin reports whether a request's cookie may stand for its
// sender: the browser says it comes from this page or from none (the
// address bar), or its Origin is a page of this node or of another
// member (the console's cluster panel reads each member's status). A
// request that says neither — an <img> or a form of another port of this
// host, a client that is no browser — does not use the cookie.
func (s *Server) trustedOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return origin == "" || s.memberOrigin(r, origin)
	}
	return origin != "" && s.memberOrigin(r, origin)
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
	if id, ok := s.requestIdentity(c.Request()); ok {
		role = s.cfg.Auth.Role(id.token)
	}
	return c.JSON(http.StatusOK, session{Auth: true, Role: role.String()})
}

// signIn checks the posted token and starts a session of it.
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
	if old, err := r.Cookie(s.sessionCookie(r)); err == nil {
		s.sessions.remove(old.Value)
	}
	id := s.sessions.create(in.Token, time.Now())
	http.SetCookie(c.Response(), &http.Cookie{Name: s.sessionCookie(r), Value: id, Path: "/",
		MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
	return c.JSON(http.StatusOK, session{Auth: true, Role: role.String()})
}

// signOut ends the request's session, and the watches and WebSockets it
// opened, and drops the cookie.
func (s *Server) signOut(c echo.Context) error {
	r := c.Request()
	if id, ok := s.requestIdentity(r); ok && id.session != "" {
		s.sessions.remove(id.session)
		s.streams.revoke(func(st *openStream) bool { return st.session == id.session })
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: s.sessionCookie(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
	return c.NoContent(http.StatusNoContent)
}

// sessionPreflight answers the CORS preflight of a member's page signing
// in or out here too (the console signs in on each member of its host,
// so that its cluster panel can read them).
func (s *Server) sessionPreflight(c echo.Context) error {
	origin := c.Request().Header.Get("Origin")
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	if origin == "" || !s.memberOrigin(c.Request(), origin) {
		return &apiError{http.StatusForbidden, "only pages of this cluster may sign in here"}
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	return c.NoContent(http.StatusNoContent)
}

// secure reports whether r came over TLS, so the cookie must not go
// over anything else.
func (s *Server) secure(r *http.Request) bool { return s.cfg.HTTPS || r.TLS != nil }
