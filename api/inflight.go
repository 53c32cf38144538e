package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// limitInFlight answers 429 with Retry-After once MaxInFlight requests are
// being served, instead of queueing without bound: a flood costs a few
// bytes a refused request, not a goroutine and a body each. The probes
// are not counted, so that an overloaded node still says it is alive.
func (s *Server) limitInFlight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if p == "/_health" || p == "/_ready" {
			return next(c)
		}
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
			return next(c)
		default:
			return &apiError{http.StatusTooManyRequests, "this node is serving as many requests as it takes; retry later; not applied"}
		}
	}
}
