package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// countRequests records every request's route pattern (never the raw
// path: object names would make a series each), method, status and time.
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		if err != nil && !c.Response().Committed {
			// The error handler writes the answer after this returns.
			status = problemFor(err).Status
		}
		s.cfg.Metrics.Request(route, methodLabel(c.Request().Method), status, time.Since(start), route == routeWatch)
		return err
	}
}

// methodLabel keeps the method label to the standard methods: a client
// may send any token, and each would be a series of its own.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
