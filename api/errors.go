package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// Problem types of the HTTP contract, by status. Together with errorStatus
// below this is the one place that maps errors to HTTP.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "bad-request",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusUnprocessableEntity:   "idempotency-key-reused",
	http.StatusTooManyRequests:       "too-many-requests",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	// Answers net/http makes itself (see ProblemListener).
	http.StatusRequestHeaderFieldsTooLarge: "too-large",
	http.StatusNotImplemented:              "not-implemented",
	http.StatusHTTPVersionNotSupported:     "http-version-not-supported",
	http.StatusInternalServerError:         "internal",
	http.StatusServiceUnavailable:          "unavailable",
	http.StatusGatewayTimeout:              "outcome-unknown",
}

// errorStatus maps sentinel errors, first match wins, to a status and the
// detail a client sees. The error's own text is never shown.
var errorStatus = []struct {
	err    error
	status int
	detail string
}{
	{errNotFound, http.StatusNotFound, "the key is absent"},
	{objects.ErrConflict, http.StatusConflict, "the operation conflicts with the stored value; nothing was applied"},
	{objects.ErrInvalid, http.StatusBadRequest, "the request is invalid; nothing was applied"},
	{objects.ErrTooLarge, http.StatusRequestEntityTooLarge, "the request is over a limit (ops per transaction, name, key or value size, or answer size); nothing was applied"},
	{fsm.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request; nothing was applied"},
	{fsm.ErrIdempotencyFull, http.StatusServiceUnavailable, "the idempotency table is full; retry later; not applied"},
	{cluster.ErrNotLeader, http.StatusServiceUnavailable, "no leader is known; not applied"},
	{fsm.ErrDigestBusy, http.StatusServiceUnavailable, "writes kept changing the SQL databases while they were hashed; retry once they pause"},
	{cluster.ErrBadMember, http.StatusBadRequest, "a member needs an id and a raft address"},
	// Unknown before not applied: an error that may still commit is
	// never reported as failed, whatever else it wraps.
	{cluster.ErrOutcomeUnknown, http.StatusGatewayTimeout, "the command may or may not have been applied"},
	{cluster.ErrNotApplied, http.StatusServiceUnavailable, "the cluster did not accept the request; not applied"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "the request timed out; the command may or may not have been applied"},
	{context.Canceled, http.StatusGatewayTimeout, "the request was canceled; the command may or may not have been applied"},
	{cluster.ErrFaultsDisabled, http.StatusBadRequest, "fault injection is not enabled on this node"},
	{errInternal, http.StatusInternalServerError, "internal error"},
}

var (
	errNotFound = errors.New("not found")
	errInternal = errors.New("internal error")
)

// apiError is an answer the api decides itself (a rejected request, a
// request it cannot forward), before anything is proposed; detail is
// written for the client.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) error {
	return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf(format, args...)}
}

// problem is an application/problem+json body (RFC 9457).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func newProblem(status int, detail string) problem {
	typ, ok := problemTypes[status]
	if !ok {
		typ = "error"
	}
	return problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// problemFor maps err to the problem the client sees.
func problemFor(err error) problem {
	var re *apiError
	if errors.As(err, &re) {
		return newProblem(re.status, re.detail)
	}
	var ce *objects.ConflictError
	if errors.As(err, &ce) {
		return newProblem(http.StatusConflict, fmt.Sprintf("key %q: %s; nothing was applied", ce.Key, ce.Reason))
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return newProblem(he.Code, http.StatusText(he.Code))
	}
	if errors.Is(err, objects.ErrTooLarge) {
		// objects words its limit errors for the client: which bound,
		// and how far over it the request went.
		return newProblem(http.StatusRequestEntityTooLarge, err.Error()+"; nothing was applied")
	}
	for _, e := range errorStatus {
		if errors.Is(err, e.err) {
			return newProblem(e.status, e.detail)
		}
	}
	return newProblem(http.StatusInternalServerError, "internal error")
}

// writeProblem writes p; every 503 and 429 carries Retry-After.
func writeProblem(w http.ResponseWriter, p problem) {
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"internal","title":"Internal Server Error","status":500,"detail":"internal error"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	w.Write(b)
}

// handleError is Echo's error handler: every error a handler returns ends
// here.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := problemFor(err)
	// A 500 is a bug worth an error line. 503 and 504 follow cluster
	// state changes (an election, a lost leader) that the cluster logs
	// once; logging each request they touch, or each /_ready poll, would
	// bury those lines.
	level := slog.LevelDebug
	if p.Status == http.StatusInternalServerError {
		level = slog.LevelError
	}
	if p.Status >= 500 {
		s.log.Log(c.Request().Context(), level, "request failed", "method", c.Request().Method,
			"path", c.Request().URL.EscapedPath(), "status", p.Status, "err", err)
	}
	writeProblem(c.Response(), p)
}
