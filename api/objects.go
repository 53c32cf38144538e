package api

import (
	"github.com/dobj/dobj/auth"
	"strconv"
	"unicode/utf8"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// objectsPage is the answer of GET /_objects.
type objectsPage struct {
	Objects []objects.ObjectInfo `json:"objects"`
	More    bool                 `json:"more"`
	// NextStartAfter is the start_after of the next page, when More.
	NextStartAfter string `json:"next_start_after,omitempty"`
}

// listObjects serves GET /_objects?prefix=&start_after=&limit=: object
// names in byte order with their key count and bytes, a page at a time
// (at most MaxListLimit). Reads take ?consistency= like the others. With
// tokens, only an admin token sees class objects (_do/<Class>/<name>).
func (s *Server) listObjects(c echo.Context) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	linearizable, err := consistency(q)
	if err != nil {
		return err
	}
	opts := objects.ObjectsOptions{Prefix: q.Get("prefix"), StartAfter: q.Get("start_after"), Limit: s.cfg.MaxListLimit}
	if !s.isAdmin(c) {
		// Class objects' storage is read through /_classes/, which
		// needs admin: their names and sizes are not for other tokens.
		opts.Hide = fsm.ClassPrefix
	}
	for _, v := range []string{opts.Prefix, opts.StartAfter} {
		if len(v) > s.cfg.MaxNameBytes {
			return badRequest("prefix and start_after are names: at most %d bytes", s.cfg.MaxNameBytes)
		}
		if !utf8.ValidString(v) {
			return badRequest("prefix and start_after must be valid UTF-8")
		}
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return badRequest("limit must be a positive integer")
		}
		opts.Limit = min(n, s.cfg.MaxListLimit)
	}
	var page objectsPage
	if err := s.read(c, linearizable, func(st *objects.Store) {
		page.Objects, page.More, err = st.Objects(opts)
	}); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if page.More && len(page.Objects) > 0 {
		page.NextStartAfter = page.Objects[len(page.Objects)-1].Name
	}
	return writeJSON(c, 200, page)
}

// isAdmin reports whether the request may do what admin may: on a node
// without tokens, anyone.
func (s *Server) isAdmin(c echo.Context) bool {
	if s.cfg.Auth == nil {
		return true
	}
	id, _ := c.Get(ctxIdentity).(identity)
	return s.cfg.Auth.Role(id.token) >= auth.RoleAdmin
}
