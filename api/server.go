package api

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/watch"
	"github.com/labstack/echo/v4"
)

// Node is what the api needs of a Raft node; *cluster.Node satisfies it.
//
// Error contract: a follower takes writes, reads, joins and removals to the
// leader itself (on the cluster's peer service, never through this API).
// Write, Read, Join and Remove return cluster.ErrNotLeader when no leader
// is known, cluster.ErrNotApplied when the command was definitely not
// applied (both 503), and cluster.ErrOutcomeUnknown when it may still
// commit (504). Domain failures of Write are objects errors
// (objects.ErrConflict, objects.ErrInvalid) and change nothing; Join
// returns cluster.ErrBadMember without an id or Raft address. SetBlocked
// returns cluster.ErrFaultsDisabled unless faults are enabled. Backup
// captures the state at a linearizable point (cluster.ErrNotLeader when
// no leader is known).
type Node interface {
	Write(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error)
	Read(ctx context.Context, linearizable bool, fn func(*objects.Store)) (uint64, error)
	Status() apitypes.Status
	Ready() bool
	Join(ctx context.Context, id, raftAddr, httpAddr string) error
	Remove(ctx context.Context, id string) error
	Digest() (apitypes.Digest, error)
	SetBlocked(ids []string) error
	Backup(ctx context.Context) (*fsm.Capture, error)
	scriptNode
}

var _ Node = (*cluster.Node)(nil)

// Config holds the server's limits. Zero values take the defaults.
type Config struct {
	NodeID string
	// HTTPS: the node serves TLS (below a listener wrapper, so requests
	// carry no TLS state of their own); the console's cookie is Secure.
	HTTPS bool

	MaxBodyBytes  int64 // default 1 MiB
	MaxNameBytes  int   // default objects.DefaultMaxNameBytes
	MaxKeyBytes   int   // default objects.DefaultMaxKeyBytes
	MaxValueBytes int   // default objects.DefaultMaxValueBytes
	// MaxListLimit caps one list page (default 1000): a list without a
	// limit, or with a larger one, returns at most this, with more=true.
	MaxListLimit int
	// MaxOps caps the ops of one transaction (default objects.DefaultMaxOps).
	MaxOps int
	// MaxAnswerBytes caps an answer: a transaction that could answer more
	// is refused (413, nothing applied), a list page stops before it
	// (more=true). Default: objects.Limits' default.
	MaxAnswerBytes int

	// RequestTimeout is the deadline of every request's context (default
	// 10s): a write still waiting then is answered 504.
	RequestTimeout time.Duration

	// LogFile is where this process writes its log, shown by GET
	// /_cluster/status; empty when it is not told.
	LogFile string
	// Hosts are names this node answers to besides IP addresses,
	// localhost and the members' addresses (host or host:port): its
	// listen and advertised addresses and any an operator names. Only a
	// node without Auth checks the Host (opennode.go).
	Hosts []string
	// Auth, when set, requires a bearer token of the route's role on
	// every route but /_health and /_ready (see requiredRole).
	Auth Authorizer
	// MaxInFlight caps the requests served at once (default 1024); past
	// it a request is answered 429 with Retry-After.
	MaxInFlight int
	// MaxStreamsPerToken caps the watches and WebSockets one token holds
	// open at once (default 1000); past it one is answered 429. Streams
	// take no request slot of MaxInFlight once they answered.
	MaxStreamsPerToken int
	// CallTimeout bounds a class call end to end (default: the default
	// class CPU limit and time to commit).
	CallTimeout time.Duration
	// MaxScriptBytes bounds a script upload, PUT /_scripts/<name>
	// (default DefaultMaxScriptBytes).
	MaxScriptBytes int64

	// Faults enables POST /_test/partition {"blocked":["n2"]}.
	Faults bool
	Logger *slog.Logger

	// Watches serves GET /<name>/watch; it must be the node's FSM
	// Observer. Nil: no watch route.
	Watches *watch.Hub
	// Tail serves GET /_scripts/<name>/tail; it must be the hub whose
	// Handler wraps the node's logger. Nil: no tail route.
	Tail *host.TailHub
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
	// The size limits' defaults are the domain's (objects.Limits), so
	// that the API and the leader's check of forwarded writes agree.
	lim := objects.Limits{MaxNameBytes: c.MaxNameBytes, MaxKeyBytes: c.MaxKeyBytes, MaxValueBytes: c.MaxValueBytes}.WithDefaults()
	c.MaxNameBytes, c.MaxKeyBytes, c.MaxValueBytes = lim.MaxNameBytes, lim.MaxKeyBytes, lim.MaxValueBytes
	if c.MaxListLimit <= 0 {
		c.MaxListLimit = 1000
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.MaxStreamsPerToken <= 0 {
		c.MaxStreamsPerToken = defaultMaxStreamsPerToken
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
	if c.CallTimeout <= 0 {
		c.CallTimeout = defaultCallTimeout
	}
	if c.MaxScriptBytes <= 0 {
		c.MaxScriptBytes = DefaultMaxScriptBytes
	}
}

// Limits are the bounds of a write that c sets: the api checks them on
// every write it takes, and the leader on every write a peer forwards.
func (c Config) Limits() objects.Limits {
	return objects.Limits{
		MaxNameBytes:   c.MaxNameBytes,
		MaxKeyBytes:    c.MaxKeyBytes,
		MaxValueBytes:  c.MaxValueBytes,
		MaxOps:         c.MaxOps,
		MaxAnswerBytes: c.MaxAnswerBytes,
	}.WithDefaults()
}

// Server serves the HTTP API of one node.
type Server struct {
	cfg      Config
	limits   objects.Limits
	node     Node
	log      *slog.Logger
	echo     *echo.Echo
	inFlight chan struct{} // one slot a request being served
	streams  *streams      // the watches and WebSockets open
	sessions *sessions     // the console's sessions
	classes  Host

	// watchHealth is why this node refuses watches now; nil while healthy.
	watchHealth atomic.Pointer[error]
	stop        chan struct{} // closed by Close: ends checkWatchHealth
	closeOnce   sync.Once
}

// New builds the server for node and its object host; both are
// required.
func New(cfg Config, node Node, objects Host) *Server {
	if node == nil || objects == nil {
		panic("api.New: a node and a host are required")
	}
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		limits:   cfg.Limits(),
		node:     node,
		classes:  objects,
		log:      cfg.Logger.With("node", cfg.NodeID, "component", "api"),
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		streams:  newStreams(cfg.MaxStreamsPerToken),
		sessions: newSessions(),
	}
	s.stop = make(chan struct{})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanics)
	if cfg.Metrics != nil {
		// Counted before the in-flight cap and auth, so that a refusal
		// is counted too.
		e.Use(s.countRequests)
		e.GET("/metrics", echo.WrapHandler(cfg.Metrics.Handler()))
	}
	e.Use(s.limitInFlight)
	if cfg.Auth != nil {
		e.Use(s.authenticate)
	} else {
		e.Use(s.guardOpen)
	}
	e.Use(s.limitStreams)
	e.Use(s.withDeadline)
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
	e.GET("/_cluster/backup", s.backup)
	if cfg.Faults {
		e.POST("/_test/partition", s.partition)
	}

	s.registerClassRoutes(e)
	s.registerScriptRoutes(e)
	if cfg.Tail != nil {
		e.GET(routeTail, s.tailScript)
	}
	s.registerScriptObjectRoutes(e)

	e.POST("/:name/increment", s.increment)
	e.POST("/:name/decrement", s.decrement)
	e.GET("/:name", s.readCounter)
	e.POST("/:name/transaction", s.transaction)
	e.GET("/:name/storage", s.list)
	e.DELETE("/:name/storage", s.deleteAll)
	e.GET("/:name/storage/*", s.getValue)
	e.PUT("/:name/storage/*", s.putValue)
	e.DELETE("/:name/storage/*", s.deleteValue)
	s.echo = e
	return s
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.echo }

// Close ends the watch-health checks. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	return nil
}

// withDeadline gives every request a deadline, so that a stuck write ends
// as 504 instead of hanging.
func (s *Server) withDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == routeWatch || c.Path() == routeTail {
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
