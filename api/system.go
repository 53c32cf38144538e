package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dobj/dobj/cluster"
	"github.com/labstack/echo/v4"
)

// health serves GET /_health: 200 while the process serves.
func (s *Server) health(c echo.Context) error {
	return writeJSON(c, 200, map[string]bool{"ok": true})
}

// ready serves GET /_ready: 200 once a leader is known and this node has
// applied up to it, else 503.
func (s *Server) ready(c echo.Context) error {
	if !s.node.Ready() {
		return &apiError{http.StatusServiceUnavailable, "not ready: no leader known, or not caught up with it"}
	}
	return writeJSON(c, 200, map[string]bool{"ready": true})
}

// status serves GET /_cluster/status: this node's view, never forwarded,
// and, for a person finding the process, its PID and log file.
func (s *Server) status(c echo.Context) error {
	st := s.node.Status()
	st.PID, st.LogFile = os.Getpid(), s.cfg.LogFile
	return writeJSON(c, 200, st)
}

// digest serves GET /_cluster/digest: this node's state fingerprint.
// It hashes every SQLite-backed object's database, minutes with
// gigabytes of them, so it may outlast the server's write timeout.
// Writes that kept changing the databases meanwhile make it a 503: the
// checker asks again.
func (s *Server) digest(c echo.Context) error {
	s.liftWriteDeadline(c, "digest")
	d, err := s.node.Digest()
	if err != nil {
		return err
	}
	return writeJSON(c, 200, d)
}

// liftWriteDeadline lets the answer to c take as long as it takes.
func (s *Server) liftWriteDeadline(c echo.Context, route string) {
	if err := http.NewResponseController(c.Response()).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Debug(route+": cannot lift the write deadline", "err", err)
	}
}

type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// join serves POST /_cluster/join: add a voter, done by the leader (the
// cluster logs membership changes).
func (s *Server) join(c echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req joinRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if req.ID == "" || req.RaftAddr == "" {
		return badRequest("join needs id and raft_addr")
	}
	if err := s.node.Join(c.Request().Context(), req.ID, req.RaftAddr, req.HTTPAddr); err != nil {
		return writeFailed(err)
	}
	return writeJSON(c, 200, map[string]bool{"ok": true})
}

// removeMember serves DELETE /_cluster/members/<id>, done by the leader.
func (s *Server) removeMember(c echo.Context) error {
	_, rest := pathSegments(c)
	raw := strings.TrimPrefix(rest, "members/")
	id, err := url.PathUnescape(raw)
	if err != nil || id == "" {
		return badRequest("member id is missing or not validly percent-encoded")
	}
	if err := s.node.Remove(c.Request().Context(), id); err != nil {
		if errors.Is(err, cluster.ErrUnknownMember) {
			return &apiError{http.StatusNotFound, fmt.Sprintf("no member %q in the cluster; nothing was changed", id)}
		}
		return writeFailed(err)
	}
	return writeJSON(c, 200, map[string]bool{"ok": true})
}

type partitionRequest struct {
	Blocked []string `json:"blocked"`
}

// partition serves POST /_test/partition {"blocked":["n2"]} (Config.Faults
// only): cut this node off from those members; an empty list heals.
func (s *Server) partition(c echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req partitionRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if req.Blocked == nil {
		req.Blocked = []string{}
	}
	if err := s.node.SetBlocked(req.Blocked); err != nil {
		return err
	}
	return writeJSON(c, 200, req)
}

// decodeStrict decodes body as exactly one JSON object of v's shape, with
// no unknown fields and nothing after it.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return badRequest("body is not valid UTF-8")
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return badRequest("body must be a JSON object")
	}
	if err := checkDepth(body, "body"); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("body has data after the JSON value")
	}
	return nil
}
