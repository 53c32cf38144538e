package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/watch"
	"github.com/labstack/echo/v4"
)

// Node is what the api needs of a Raft node; *cluster.Node satisfies it.
//
// Error contract: Write and Read return cluster.ErrNotLeader when this node
// cannot serve them (the request is then forwarded), cluster.ErrNotApplied
// when the command was definitely not applied (503), and
// cluster.ErrOutcomeUnknown when it may still commit (504). Domain failures
// of Write are objects errors (objects.ErrConflict, objects.ErrInvalid) and
// change nothing. Join and Remove return cluster.ErrNotLeader on a follower.
// SetBlocked returns cluster.ErrFaultsDisabled unless faults are enabled.
type Node interface {
	Write(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error)
	Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error)
	IsLeader() bool
	Leader() (id, httpAddr string)
	Status() cluster.Status
	Ready() bool
	Join(ctx context.Context, id, raftAddr, httpAddr string) error
	Remove(ctx context.Context, id string) error
	Digest() cluster.Digest
	SetBlocked(ids []string) error
}

var _ Node = (*cluster.Node)(nil)

// Config holds the server's limits. Zero values take the defaults.
type Config struct {
	NodeID string

	MaxBodyBytes  int64 // default 1 MiB
	MaxNameBytes  int   // default 256
	MaxKeyBytes   int   // default 2048
	MaxValueBytes int   // default 128 KiB
	// MaxListLimit caps one list page (default 1000): a list without a
	// limit, or with a larger one, returns at most this, with more=true.
	MaxListLimit int

	// RequestTimeout is the deadline of every request's context (default
	// 10s): a write still waiting then is answered 504.
	RequestTimeout time.Duration

	// Faults enables POST /_test/partition {"blocked":["n2"]}.
	Faults bool
	Logger *slog.Logger

	// Watches serves GET /<name>/watch; it must be the node's FSM
	// Observer. Nil: no watch route.
	Watches *watch.Hub
	// WatchCheckInterval is how often watches check that the node has a
	// leader and keeps up (default 1s).
	WatchCheckInterval time.Duration
	// Metrics, if set, counts requests and serves GET /metrics.
	Metrics *metrics.Set
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxNameBytes <= 0 {
		c.MaxNameBytes = 256
	}
	if c.MaxKeyBytes <= 0 {
		c.MaxKeyBytes = 2048
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = 128 << 10
	}
	if c.MaxListLimit <= 0 {
		c.MaxListLimit = 1000
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WatchCheckInterval <= 0 {
		c.WatchCheckInterval = time.Second
	}
}

// Server serves the HTTP API of one node.
type Server struct {
	cfg       Config
	node      Node
	log       *slog.Logger
	echo      *echo.Echo
	transport *http.Transport // pooled keep-alive connections to the leader
	proxy     *httputil.ReverseProxy
	closeOnce sync.Once

	// watchHealth is why this node refuses watches now; nil while healthy.
	watchHealth atomic.Pointer[error]
	stop        chan struct{} // closed by Close: ends checkWatchHealth
}

// New builds the server for node.
func New(cfg Config, node Node) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:  cfg,
		node: node,
		log:  cfg.Logger.With("node", cfg.NodeID, "component", "api"),
		transport: &http.Transport{
			DialContext: (&net.Dialer{
				Timeout:   2 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	s.proxy = s.newProxy()
	s.stop = make(chan struct{})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanics, s.withDeadline)
	if cfg.Metrics != nil {
		e.Use(s.countRequests)
		e.GET("/metrics", echo.WrapHandler(cfg.Metrics.Handler()))
	}
	s.routeConsole(e)
	e.GET("/_objects", s.listObjects)
	if cfg.Watches != nil {
		e.GET(routeWatch, s.watchObject)
		go s.checkWatchHealth(s.stop, cfg.WatchCheckInterval)
	}

	e.GET("/_health", s.health)
	e.GET("/_ready", s.ready)
	e.GET("/_cluster/status", s.status)
	e.GET("/_cluster/digest", s.digest)
	e.POST("/_cluster/join", s.join)
	e.DELETE("/_cluster/members/:id", s.removeMember)
	if cfg.Faults {
		e.POST("/_test/partition", s.partition)
	}

	e.POST("/:name/increment", s.increment)
	e.POST("/:name/decrement", s.decrement)
	e.GET("/:name", s.readCounter)
	e.POST("/:name/transaction", s.transaction)
	e.GET("/:name/storage", s.list)
	e.DELETE("/:name/storage", s.deleteAll)
	e.GET("/:name/storage/*", s.getValue)
	e.PUT("/:name/storage/*", s.putValue)
	e.DELETE("/:name/storage/*", s.deleteValue)
	if in, ok := node.(internalRoutes); ok {
		// Node-to-node calls (a follower's batched writes and read
		// indexes): the node serves them itself.
		e.Any("/_internal/*", echo.WrapHandler(in.InternalHandler()))
	}
	s.echo = e
	return s
}

// internalRoutes is implemented by a node that serves node-to-node calls
// under /_internal/ (cluster.Node does).
type internalRoutes interface {
	InternalHandler() http.Handler
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.echo }

// Close closes the pooled forwarding connections. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.transport.CloseIdleConnections()
	})
	return nil
}

// withDeadline gives every request a deadline, so that a stuck write ends
// as 504 instead of hanging.
func (s *Server) withDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == routeWatch {
			return next(c) // a stream lasts as long as its watcher
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// recoverPanics turns a handler's panic into a logged 500.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", c.Request().Method, "path", c.Request().URL.EscapedPath(),
					"panic", v, "stack", string(debug.Stack()))
				err = errInternal
			}
		}()
		return next(c)
	}
}
