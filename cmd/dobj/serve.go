package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/config"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/watch"
)

// shutdownGrace bounds how long serve waits for requests in flight once
// it has been told to stop.
const shutdownGrace = 10 * time.Second

// serve runs one node until ctx is done: the Raft node, the HTTP API on
// its listener and, with --join, the request to join a running cluster.
// On ctx done it stops taking requests, lets those in flight finish, then
// closes the node (a leader hands leadership over first).
func serve(ctx context.Context, e env, args []string) error {
	cfg, err := config.Load(args, e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		writeHelp(e.stdout, "serve", config.Flags())
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logTo, logFile, closeLog, err := openLog(e.stderr, cfg.LogFile)
	if err != nil {
		return fmt.Errorf("serve: --log-file: %w", err)
	}
	defer closeLog()
	out := &lockedWriter{w: logTo}
	base := newLogger(out, cfg.SlogLevel(), logFormat(cfg.LogFormat, logTo))
	log := base.With("node", cfg.ID)
	tuneGC(log, cfg.MemoryLimit)

	sec, err := loadSecurity(cfg, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	p, err := startProcess(ctx, cfg, sec, base, logFile)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if sec.tokens != nil {
		stopReload := reloadOnHangup(sec.tokens, log, func() { p.api.Reauthorize() })
		defer stopReload()
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			p.close()
			return fmt.Errorf("serve: --pprof-addr: %w", err)
		}
		defer stopPprof()
	}
	return p.run(ctx, e.getenv)
}

// process is what one `dobj serve` runs: the Raft node, the host of its
// class objects, the API on them and the HTTP server in front of the API.
type process struct {
	cfg      config.Config
	sec      security
	log      *slog.Logger
	ln       net.Listener // the API's, not yet served
	httpAddr string       // where the other nodes reach ln
	hub      *watch.Hub
	node     *cluster.Node
	host     *host.Host
	api      *api.Server
	hs       *http.Server
	workers  *workerServer // --worker-addr's, nil without it (workers.go)
}

// startProcess opens the API's listener and the Raft node, and builds
// the API and the HTTP server on them; run serves them.
func startProcess(ctx context.Context, cfg config.Config, sec security, base *slog.Logger, logFile string) (*process, error) {
	p := &process{cfg: cfg, sec: sec, log: base.With("node", cfg.ID)}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr: %w", err)
	}
	// Publish where the others reach us, not the bind address: from
	// another host, 0.0.0.0 dials the dialler itself.
	if p.httpAddr, err = cluster.AdvertisedAddr(cfg.AdvertiseHTTP, ln.Addr()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--advertise-http: %w", err)
	}
	p.ln = ln

	// The watch hub hears every change the FSM applies; metrics live in a
	// registry of this node's own.
	p.hub = watch.NewHub(watch.Options{MaxEvents: cfg.WatchHistory, MaxBytes: cfg.WatchHistoryBytes, Buffer: cfg.WatchBuffer, MaxWatchers: cfg.MaxWatches})
	met := metrics.New()
	met.GaugeFunc("watches_open", "Watch streams open on this node.", func() float64 { return float64(p.hub.Open()) })
	apiCfg := apiConfig(cfg, base, logFile, p.hub, met)
	if sec.tokens != nil {
		apiCfg.Auth = sec.tokens
	}
	apiCfg.MaxStreamsPerToken = cfg.MaxStreamsPerToken
	apiCfg.Hosts = append(cfg.HostNames(), p.httpAddr)
	if p.node, err = cluster.Open(ctx, p.clusterConfig(apiCfg.Limits(), met)); err != nil {
		ln.Close()
		return nil, err
	}
	// The host's console lines also reach GET /_scripts/<name>/tail.
	tail := host.NewTailHub(cfg.ID)
	apiCfg.Tail = tail
	p.host = newHost(cfg, p.node, slog.New(tail.Handler(p.log.Handler())), met)
	if p.workers, err = p.listenWorkers(); err != nil {
		p.host.Close()
		p.node.Close()
		ln.Close()
		return nil, err
	}
	p.api = api.New(apiCfg, p.node, p.host)
	p.hs = &http.Server{
		Handler:           p.api.Handler(),
		ReadHeaderTimeout: min(10*time.Second, cfg.HTTPReadTimeout),
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.WriteTimeout(),
		IdleTimeout:       cfg.HTTPIdleTimeout,
		TLSConfig:         sec.serverTLS,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	p.hs.RegisterOnShutdown(p.hub.Close) // watch streams end, so Shutdown need not wait for them
	return p, nil
}

// apiConfig is the API's part of the settings: its limits, timeouts and
// the node's watch hub and metrics.
func apiConfig(cfg config.Config, base *slog.Logger, logFile string, hub *watch.Hub, met *metrics.Set) api.Config {
	return api.Config{
		NodeID:         cfg.ID,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxNameBytes:   cfg.MaxNameBytes,
		MaxKeyBytes:    cfg.MaxKeyBytes,
		MaxValueBytes:  cfg.MaxValueBytes,
		MaxListLimit:   cfg.MaxListLimit,
		MaxOps:         cfg.MaxTxnOps,
		MaxAnswerBytes: cfg.MaxAnswerBytes,
		MaxInFlight:    cfg.MaxInFlight,
		MaxScriptBytes: cfg.MaxScriptBytes,
		RequestTimeout: cfg.RequestTimeout(),
		CallTimeout:    cfg.CallTimeout(),
		Faults:         cfg.TestFaults,
		LogFile:        logFile,
		Logger:         base, // api adds the node id itself
		Watches:        hub,
		Metrics:        met,
		HTTPS:          cfg.TLS(),
	}
}

// clusterConfig is the Raft node's part of the settings. limits are the
// API's: a follower's forwarded writes are checked as the API checks its
// own.
func (p *process) clusterConfig(limits objects.Limits, met *metrics.Set) cluster.Config {
	cfg := p.cfg
	peers := make([]cluster.Peer, len(cfg.Peers))
	for i, peer := range cfg.Peers {
		peers[i] = cluster.Peer{ID: peer.ID, RaftAddr: peer.RaftAddr}
	}
	return cluster.Config{
		ID:                  cfg.ID,
		DataDir:             cfg.DataDir,
		RaftAddr:            cfg.RaftAddr,
		AdvertiseRaft:       cfg.AdvertiseRaft,
		HTTPAddr:            p.httpAddr,
		Peers:               peers,
		LogStore:            cfg.LogStore,
		WALSegmentBytes:     cfg.WALSegmentBytes,
		SQLMaxDatabaseBytes: cfg.SQLMaxDatabaseBytes,
		SQLMaxResultBytes:   cfg.SQLMaxResultBytes,
		SQLOpenDatabases:    cfg.SQLOpenDatabases,
		SQLOpenBytes:        cfg.SQLOpenBytes,
		SnapshotThreshold:   cfg.SnapshotThreshold,
		TrailingLogs:        cfg.TrailingLogs,
		SnapshotInterval:    cfg.SnapshotInterval,
		ApplyTimeout:        cfg.ApplyTimeout,
		IdempotencyWindow:   cfg.IdempotencyWindow,
		Logger:              p.log,
		LogLevel:            cfg.LogLevel,
		Faults:              cfg.TestFaults,
		Bugs:                cfg.UnsafeBugs,
		Limits:              limits,
		PeerServerTLS:       p.sec.peerServer,
		PeerClientTLS:       p.sec.peerClient,
		Observer:            p.hub,
		Metrics:             met,
	}
}

// run serves the API and, with --join, asks the cluster to add this node,
// until ctx is done or the HTTP server fails; then it shuts down.
func (p *process) run(ctx context.Context, getenv func(string) string) error {
	cfg, log := p.cfg, p.log
	served := make(chan error, 1)
	// net/http's own error answers (a 431 for a key too long for a URL)
	// are problem+json too: the listener that rewrites them sits above
	// TLS, where they are still plain.
	var hln net.Listener = p.ln
	if p.sec.serverTLS != nil {
		hln = tls.NewListener(p.ln, p.sec.serverTLS)
	}
	go func() { served <- p.hs.Serve(api.ProblemListener(hln, p.hs.MaxHeaderBytes)) }()
	p.workers.serve(log)
	log.Info("serving", "http_addr", p.ln.Addr().String(), "advertise_http", p.httpAddr,
		"raft_addr", cfg.RaftAddr, "advertise_raft", p.node.RaftAddr(), "data_dir", cfg.DataDir,
		"peers", len(cfg.Peers), "join", cfg.Join, "test_faults", cfg.TestFaults,
		"tls", cfg.TLS(), "auth", p.sec.tokens != nil, "peer_tls", cfg.PeerTLS())
	if len(cfg.UnsafeBugs) > 0 {
		log.Warn("UNSAFE: known bugs switched on; this node is not correct", "bugs", cfg.UnsafeBugs)
	}

	joinCtx, stopJoin := context.WithCancel(ctx)
	var joining sync.WaitGroup
	if cfg.Join != "" {
		joining.Add(1)
		go func() {
			defer joining.Done()
			join(joinCtx, log, p.sec.joinClient(cfg.Join, getenv), cfg.ID, p.node.RaftAddr(), p.httpAddr)
		}()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		// The cause names the signal (SIGINT or SIGTERM) that ended ctx.
		log.Info("stopping: signal received", "cause", context.Cause(ctx))
	case serveErr = <-served:
		log.Error("http server stopped", "err", serveErr)
	}
	stopJoin()
	joining.Wait()
	return p.shutdown(ctx, serveErr)
}

// shutdown stops taking requests, lets those in flight finish for up to
// shutdownGrace, then closes the API and the node. serveErr is how the
// HTTP server stopped, if it stopped by itself.
func (p *process) shutdown(ctx context.Context, serveErr error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	var errs []error
	if err := p.hs.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		p.hs.Close()
	}
	p.log.Info("http server stopped")
	p.workers.close()
	errs = append(errs, p.api.Close(), p.host.Close())
	if err := p.node.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close node: %w", err))
	}
	p.log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("http server: %w", serveErr))
	}
	return errors.Join(errs...)
}

// close closes what start opened, for a serve that fails before run.
func (p *process) close() {
	p.workers.close()
	p.ln.Close()
	p.hs.Close()
	p.api.Close()
	p.host.Close()
	p.node.Close()
}

// join asks the node at url to add this one to its cluster, with backoff,
// until it succeeds, the answer says the request itself is wrong, or ctx
// is done.
func join(ctx context.Context, log *slog.Logger, c *client.Client, id, raftAddr, httpAddr string) {
	url := c.URL()
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.Join(ctx, id, raftAddr, httpAddr)
		if err == nil {
			log.Info("joined the cluster", "via", url, "attempts", attempt)
			return
		}
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status >= 400 && ce.Status < 500 && ce.Status != http.StatusRequestTimeout && ce.Status != http.StatusTooManyRequests {
			log.Error("join refused; not retrying", "via", url, "err", err)
			return
		}
		log.Warn("join failed; retrying", "via", url, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// lockedWriter serializes writes: slog's handler and Raft's hclog logger
// write lines to the same stream from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// defaultGCPercent is the GC target a node runs with unless GOGC is set.
// A node's live heap is small (the objects' data, the class runtimes)
// next to what it allocates per request, so at Go's default of 100 it
// collects often, and on a busy leader running object classes the
// collector took a fifth of the CPU; 200 gives that back for a heap that
// peaks at three times the live data instead of two (README, "Object
// classes").
const defaultGCPercent = 200

// tuneGC sets --memory-limit (when given) and defaultGCPercent, unless
// the operator chose with GOGC (which the runtime has read already).
func tuneGC(log *slog.Logger, memoryLimit int64) {
	if memoryLimit > 0 {
		debug.SetMemoryLimit(memoryLimit)
		log.Info("memory limit", "bytes", memoryLimit)
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Debug("GC target from GOGC", "gogc", v)
		return
	}
	debug.SetGCPercent(defaultGCPercent)
}

// servePprof serves Go's profiler on its own listener, apart from the API,
// and returns the function that stops it.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go ps.Serve(ln)
	log.Info("serving pprof", "addr", ln.Addr().String())
	return func() { ps.Close() }, nil
}

// newHost builds the host of node's class objects, with the class limits
// of cfg, and its gauges.
func newHost(cfg config.Config, node *cluster.Node, log *slog.Logger, met *metrics.Set) *host.Host {
	h := host.New(node, host.Config{
		CPULimit:          cfg.ClassCPULimit,
		MaxNameBytes:      cfg.MaxNameBytes,
		MaxKeyBytes:       cfg.MaxKeyBytes,
		MaxValueBytes:     cfg.MaxValueBytes,
		MaxResponseBytes:  int(cfg.MaxBodyBytes),
		MaxInstances:      cfg.ClassMaxInstances,
		Runtimes:          cfg.ClassRuntimes,
		OutboundAllow:     cfg.OutboundAllow,
		ApplyTimeout:      cfg.ApplyTimeout,
		IdempotencyWindow: cfg.IdempotencyWindow,
		AckBeforeCommit:   slices.Contains(cfg.UnsafeBugs, cluster.BugAckBeforeCommit),
		Logger:            log,
		Metrics:           met,
	})
	met.GaugeFunc("class_instances", "Object class instances live on this node.", func() float64 { return float64(h.Stats().Instances) })
	met.GaugeFunc("class_runtimes", "JavaScript runtimes the live class instances share.", func() float64 { return float64(h.Stats().Runtimes) })
	if st := node.FSM().SQL(); st != nil {
		met.GaugeFunc("sql_databases_open", "SQLite-backed objects' databases open on this node (at most --sql-open-databases while idle).",
			func() float64 { return float64(st.OpenHandles()) })
		met.GaugeFunc("sql_databases_open_bytes", "Memory of the SQLite-backed objects' open databases on this node (at most --sql-open-bytes while idle).",
			func() float64 { return float64(st.OpenBytes()) })
		met.CounterFunc("sql_database_opens_total", "Databases this node opened; a steady climb means calls reopen closed ones: raise --sql-open-bytes.",
			func() float64 { return float64(st.Opened()) })
	}
	return h
}
