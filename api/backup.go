package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/dobj/dobj/cluster"
	"github.com/labstack/echo/v4"
)

// backup serves GET /_cluster/backup (admin): the state at a linearizable
// point, in the FSM's snapshot format, streamed while writes go on. `dobj
// restore` seeds a new node's data directory from it.
func (s *Server) backup(c echo.Context) error {
	capture, err := s.node.Backup(c.Request().Context())
	if err != nil {
		if errors.Is(err, cluster.ErrNotLeader) {
			return &apiError{http.StatusServiceUnavailable, "no leader is known; no backup taken"}
		}
		return err
	}
	// The stream may outlast the server's write timeout: a large state
	// takes as long as it takes.
	s.liftWriteDeadline(c, "backup")
	h := c.Response().Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set(headerIndex, strconv.FormatUint(capture.Applied(), 10))
	h.Set("X-Dobj-Keys", strconv.Itoa(capture.Keys()))
	c.Response().WriteHeader(http.StatusOK)
	if err := capture.Write(c.Response()); err != nil {
		// The status is sent: cutting the connection is the only way
		// left to tell the client the stream is incomplete.
		s.log.Warn("backup stream failed", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
