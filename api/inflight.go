package api

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// limitInFlight answers 429 with Retry-After once MaxInFlight requests are
// being served, instead of queueing without bound: a flood costs a few
// bytes a refused request, not a goroutine and a body each. The probes
// are not counted, so that an overloaded node still says it is alive. A
// watch or a WebSocket holds its slot only until it answers (its status
// line); from then on it is a stream, counted by limitStreams.
func (s *Server) limitInFlight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if p == "/_health" || p == "/_ready" {
			return next(c)
		}
		select {
		case s.inFlight <- struct{}{}:
			var once sync.Once
			free := func() { once.Do(func() { <-s.inFlight }) }
			defer free()
			if isStream(c) {
				c.Response().Before(free)
			}
			return next(c)
		default:
			return &apiError{http.StatusTooManyRequests, "this node is serving as many requests as it takes; retry later; not applied"}
		}
	}
}
