package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/host"
)

// The Worker listener (issue 20; serve's --worker-addr): every request
// runs the default export's fetch of the script it routes to
// (host.RouteWorker: the only script, or the one whose routes pattern
// matches), on this node. It is the application's own port: no dobj
// route, token or console lives there, and dobj's console cookies are
// taken out of the requests the Worker sees. The Worker sees the client's
// address as the CF-Connecting-IP header and request.cf.clientIp.
//
// A WebSocket upgrade whose Worker answers with a Durable Object stub's
// fetch (return stub.fetch(request)) is served as a /do/ upgrade is:
// the object's fetch runs on the leader and the client's connection is
// joined to its socket (relayed from a follower), counted in the node's
// socket cap (503 over it). The listener has no tokens, so no per-token
// rule applies. A Worker that answers with a WebSocketPair of its own
// (server.accept() and its listeners) serves the socket on this node,
// counted in the same cap.
//
// Answers of its own, as problem+json: 404 when no script serves the
// route, 413 for a body over the limit, 500 when the Worker threw (the
// detail is its message), 504 when it failed on an object call whose
// outcome is unknown, 503 when one was not applied (no leader); what the
// Worker committed through objects before it failed stays committed.

// WorkerHost is what the Worker listener needs; *host.Host has it.
//
// Error contract: RouteWorker returns host.ErrNoRoute; ServeWorker
// returns host.ErrClassNotFound, *host.CallError (the Worker threw; its
// chain holds the node's error when an object call failed), and the
// engine's limits' errors.
type WorkerHost interface {
	RouteWorker(ctx context.Context, host, path string) (string, error)
	ServeWorker(ctx context.Context, script string, req *classes.Request, cf json.RawMessage) (*classes.Response, error)
	ServeWorkerSocket(w http.ResponseWriter, r *http.Request, script string, u *classes.Upgrade) (*host.CallResult, error)
}

var _ WorkerHost = (*host.Host)(nil)

// WorkerConfig configures the Worker listener.
type WorkerConfig struct {
	NodeID       string
	MaxBodyBytes int64         // a request body (default 1 MiB)
	CallTimeout  time.Duration // a request's run (default 1 minute)
	Logger       *slog.Logger
}

// NewWorkerHandler is the Worker listener's handler.
func NewWorkerHandler(cfg WorkerConfig, h WorkerHost) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &workerHandler{cfg: cfg, h: h}
}

type workerHandler struct {
	cfg WorkerConfig
	h   WorkerHost
}

func (wh *workerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	script, err := wh.h.RouteWorker(r.Context(), r.Host, r.URL.Path)
	if err != nil {
		writeProblem(w, newProblem(http.StatusNotFound, "no Worker serves "+r.Host+r.URL.Path))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wh.cfg.MaxBodyBytes+1))
	if err != nil {
		writeProblem(w, newProblem(http.StatusBadRequest, "reading the body: "+err.Error()))
		return
	}
	if int64(len(body)) > wh.cfg.MaxBodyBytes {
		writeProblem(w, newProblem(http.StatusRequestEntityTooLarge, "the body is over the Worker listener's limit"))
		return
	}
	req, cf := workerRequest(r, body)
	// As a class call: the run goes on if the client goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), wh.cfg.CallTimeout)
	defer cancel()
	upgrade := func() *classes.Upgrade { return nil }
	if classes.IsUpgrade(r.Header) {
		ctx, upgrade = classes.WithUpgrade(ctx)
	}
	resp, err := wh.h.ServeWorker(ctx, script, req, cf)
	if err == nil {
		if u := upgrade(); u != nil {
			resp, err = wh.serveSocket(w, r, script, u)
			if resp == nil && err == nil {
				return // the socket is served
			}
		}
	}
	if err != nil {
		writeProblem(w, workerProblem(script, err))
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(resp.Body)
}

// serveSocket joins the client's connection to the object socket the
// Worker answered with; it returns the object's answer when the object
// accepted none (nil, nil once the socket is served).
func (wh *workerHandler) serveSocket(w http.ResponseWriter, r *http.Request, script string, u *classes.Upgrade) (*classes.Response, error) {
	res, err := wh.h.ServeWorkerSocket(w, r, script, u)
	if err != nil || res == nil {
		return nil, err
	}
	return res.Response, nil
}

// workerRequest is the request the Worker gets, and its request.cf.
func workerRequest(r *http.Request, body []byte) (*classes.Request, json.RawMessage) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	header := r.Header.Clone()
	stripDobjCookies(header)
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	header.Set("CF-Connecting-IP", ip)
	if r.Host != "" {
		header.Set("Host", r.Host)
	}
	cf, _ := json.Marshal(requestCF{Colo: "dobj", ClientIP: ip, HTTPProtocol: r.Proto, Country: "XX"})
	return &classes.Request{Method: r.Method, URL: scheme + "://" + r.Host + r.URL.RequestURI(), Header: header, Body: body}, cf
}

// requestCF is request.cf: its fields in name order, as a map would
// encode them, without a map to make and sort each request.
type requestCF struct {
	ASN          int    `json:"asn"`
	ClientIP     string `json:"clientIp"`
	Colo         string `json:"colo"`
	Country      string `json:"country"`
	HTTPProtocol string `json:"httpProtocol"`
}

// workerProblem is the answer to a Worker that failed.
func workerProblem(script string, err error) problem {
	var ce *host.CallError
	switch {
	case errors.Is(err, host.ErrClassNotFound):
		return newProblem(http.StatusNotFound, "script "+script+" is not deployed")
	case errors.Is(err, cluster.ErrOutcomeUnknown), errors.Is(err, context.DeadlineExceeded):
		return newProblem(http.StatusGatewayTimeout, "the Worker failed on a call whose outcome is unknown: it may or may not have been applied")
	case errors.Is(err, cluster.ErrNotApplied), errors.Is(err, cluster.ErrNotLeader):
		return newProblem(http.StatusServiceUnavailable, "the Worker failed on a call the cluster did not accept (not applied)")
	case errors.As(err, &ce):
		return newProblem(http.StatusInternalServerError, ce.Message)
	}
	return newProblem(http.StatusInternalServerError, "the Worker failed: "+err.Error())
}
