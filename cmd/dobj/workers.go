package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

// workerServer is serve's --worker-addr: the deployed scripts' Workers,
// on a listener apart from the API's.
type workerServer struct {
	ln net.Listener
	hs *http.Server
}

// listenWorkers opens --worker-addr (nil when it is not set) and builds
// its server on p's host.
func (p *process) listenWorkers() (*workerServer, error) {
	cfg := p.cfg
	if cfg.WorkerAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.WorkerAddr)
	if err != nil {
		return nil, fmt.Errorf("--worker-addr: %w", err)
	}
	h := api.NewWorkerHandler(api.WorkerConfig{NodeID: cfg.ID, MaxBodyBytes: cfg.MaxBodyBytes,
		CallTimeout: cfg.CallTimeout(), Logger: p.log}, p.host)
	return &workerServer{ln: ln, hs: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, cfg.HTTPReadTimeout),
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.WriteTimeout(),
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}}, nil
}

// serve serves the Workers until the server is shut down.
func (ws *workerServer) serve(log *slog.Logger) {
	if ws == nil {
		return
	}
	log.Info("serving Workers", "worker_addr", ws.ln.Addr().String())
	go ws.hs.Serve(ws.ln)
}

func (ws *workerServer) close() {
	if ws != nil {
		ws.hs.Close()
		ws.ln.Close()
	}
}

// printWorkers shows where dev's nodes serve the Workers.
func printWorkers(w io.Writer, c *launch.Cluster) {
	for _, n := range c.Nodes {
		if n.WorkerAddr != "" {
			fmt.Fprintf(w, "  %s  Workers: http://%s\n", n.ID, n.WorkerAddr)
		}
	}
}

// workerURLs are the nodes' Worker listeners' URLs.
func workerURLs(c *launch.Cluster) []string {
	var urls []string
	for _, n := range c.Nodes {
		if n.WorkerAddr != "" {
			urls = append(urls, "http://"+n.WorkerAddr)
		}
	}
	return urls
}

// rpcVerb: dobj rpc SCRIPT CLASS NAME METHOD [JSON-ARG…]
// [--idempotency-key K]. It prints the result's JSON, nothing for
// undefined; a throw is an error naming it.
func rpcVerb(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "rpc", args, 4, 1<<10, false, true, nil)
	if err != nil {
		return helpOK(err)
	}
	var jargs []json.RawMessage
	for i, a := range pos[4:] {
		if !json.Valid([]byte(a)) {
			return fmt.Errorf("rpc: argument %d is not JSON: %s (a string is written '\"text\"')", i+1, a)
		}
		jargs = append(jargs, json.RawMessage(a))
	}
	res, err := c.RPCKeyed(ctx, cf.idemKey, pos[0], pos[1], pos[2], pos[3], jargs...)
	if err != nil {
		return rpcProblem(cf, err)
	}
	if res != nil {
		fmt.Fprintln(e.stdout, string(res))
	}
	return nil
}

// rpcProblem is problem for dobj rpc: a 504 says, as joinVerb's does,
// that the call's outcome is unknown and what sending it again does,
// which depends on whether it had an --idempotency-key.
func rpcProblem(cf *clientFlags, err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) || !ce.Unknown() {
		return problem(cf, err)
	}
	plain := *cf
	plain.write = false // the advice below replaces problem's
	if cf.idemKey != "" {
		return fmt.Errorf("%w (the outcome of the call is unknown: it may or may not have been applied; "+
			"sending it again with the same --idempotency-key %q is safe: it answers the first result and applies nothing again)", problem(&plain, err), cf.idemKey)
	}
	return fmt.Errorf("%w (the outcome of the call is unknown: it may or may not have been applied; "+
		"it had no --idempotency-key, so sending it again may apply it twice; next time send one, and then resending with the same key is safe)", problem(&plain, err))
}
