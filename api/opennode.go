package api

import (
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/dobj/dobj/auth"
	"github.com/labstack/echo/v4"
)

// A node without tokens serves anyone who reaches it, and a browser
// reaches it for any page it shows: without these checks a page of any
// site could post to /_cluster/join (a text/plain form needs no CORS
// preflight) or, through DNS rebinding, read and write as if it were the
// console. So a node without tokens (guardOpen):
//
//   - answers only requests whose Host is one of its names (an IP
//     address, localhost, its own listen and advertised addresses, the
//     members' published addresses, Config.Hosts): a rebound name is not;
//   - refuses a request a browser sent from another site's page, or from
//     another port of its host (Sec-Fetch-Site cross-site or same-site),
//     or with an Origin that is not a page of a member, 403;
//   - takes JSON bodies only with a JSON Content-Type, 415: the types a
//     page may post without a preflight (text/plain, forms) are refused.
//
// The console's page and files and the probes hold no data and stay open
// (auth.RoleNone routes). A node with tokens needs none of this: a bearer
// header is never sent by a page that does not hold it, and the console's
// cookie counts only from its own pages (trustedOrigin).

// guardOpen applies the checks above; it runs only without cfg.Auth.
func (s *Server) guardOpen(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !s.ownHost(r.Host) {
			return &apiError{http.StatusForbidden, "this node does not answer to the name " + hostOnly(r.Host) + " (Host); use its address"}
		}
		if requiredRole(r.Method, r.URL.Path) == auth.RoleNone {
			return next(c)
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !s.memberOrigin(r, origin) {
				return &apiError{http.StatusForbidden, "requests from pages of other sites are refused; not applied"}
			}
		} else if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			return &apiError{http.StatusForbidden, "requests from pages of other sites are refused; not applied"}
		}
		if jsonRoute(r.Method, c.Path()) && r.ContentLength != 0 && !jsonType(r.Header.Get("Content-Type")) {
			return &apiError{http.StatusUnsupportedMediaType, "the body must be JSON, sent with Content-Type: application/json; nothing was applied"}
		}
		return next(c)
	}
}

// jsonRoute reports whether a route takes a JSON body.
func jsonRoute(method, route string) bool {
	switch {
	case method == http.MethodPut && route == "/:name/storage/*":
		return true
	case method == http.MethodPost:
		switch route {
		case "/:name/transaction", "/_cluster/join", "/_test/partition", "/_console/session":
			return true
		}
	}
	return false
}

// jsonType reports whether a Content-Type is JSON: application/json or
// application/…+json.
func jsonType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// hostOnly is the host of a Host header, without its port or brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// ownHost reports whether a request's Host names this node: an IP
// address (a rebound name is never one), localhost, or a name of its own
// or of a member. The port is not compared: a proxy may listen on another.
func (s *Server) ownHost(hostport string) bool {
	host := strings.ToLower(strings.TrimSuffix(hostOnly(hostport), "."))
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, h := range s.cfg.Hosts {
		if strings.EqualFold(hostOnly(h), host) {
			return true
		}
	}
	for _, m := range s.node.Status().Members {
		if m.HTTPAddr != "" && strings.EqualFold(hostOnly(m.HTTPAddr), host) {
			return true
		}
	}
	return false
}
