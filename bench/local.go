package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dobj/dobj/launch"
)

// LocalConfig says how to start a local cluster of `dobj serve` processes.
type LocalConfig struct {
	Binary string // the dobj binary; default: this executable
	// Dir holds each node's data and log; default: a new temporary
	// directory, removed by Close unless Keep.
	Dir  string
	Keep bool
	// BasePort: launch's port scheme (node i serves HTTP on BasePort+i and
	// Raft on BasePort+1000+i). Default 8080, the README's ports.
	BasePort int
	Nodes    int           // default 3
	Ready    time.Duration // how long to wait for every node to be ready; default 30s
	Args     []string      // extra flags for every `serve`
	// Secure runs the cluster with TLS (API and mutual TLS between the
	// nodes) and tokens, made in Dir (launch.MakeSecure).
	Secure bool
	// WorkerPort, when set, serves node i's Workers on
	// 127.0.0.1:WorkerPort+i-1 (serve --worker-addr).
	WorkerPort int
}

// Local is a running local cluster.
type Local struct {
	cluster *launch.Cluster
	dir     string
	ownsDir bool
	secure  *launch.Secure // nil: plain HTTP, no tokens
}

// StartLocal starts the cluster's processes and returns once every node
// answers /_ready with 200. On error, whatever it started is stopped.
func StartLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	if cfg.BasePort == 0 {
		cfg.BasePort = 8080
	}
	if cfg.Ready == 0 {
		cfg.Ready = 30 * time.Second
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local cluster: find the dobj binary: %w", err)
		}
		cfg.Binary = exe
	}
	l := &Local{dir: cfg.Dir}
	if l.dir == "" {
		dir, err := os.MkdirTemp("", "dobj-bench-")
		if err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		l.dir, l.ownsDir = dir, !cfg.Keep
	}
	if cfg.Secure {
		sec, err := launch.MakeSecure(l.dir, max(cfg.Nodes, 3))
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		l.secure = sec
	}
	c, err := launch.New(launch.Config{Binary: cfg.Binary, Dir: l.dir, BasePort: cfg.BasePort, Nodes: cfg.Nodes, Args: cfg.Args, Secure: l.secure, WorkerPort: cfg.WorkerPort})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("local cluster: %w (choose others with --base-port)", err)
	}
	l.cluster = c
	if err := c.Start(); err != nil {
		l.Close()
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	if err := c.WaitReady(ctx, cfg.Ready); err != nil {
		l.Close()
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	return l, nil
}

// URLs are the nodes' HTTP base URLs.
func (l *Local) URLs() []string { return l.cluster.URLs() }

// WorkerURLs are the nodes' Worker listeners; none without
// LocalConfig.WorkerPort.
func (l *Local) WorkerURLs() []string {
	var urls []string
	for _, n := range l.cluster.Nodes {
		if n.WorkerAddr != "" {
			urls = append(urls, "http://"+n.WorkerAddr)
		}
	}
	return urls
}

// Secure is the cluster's certificates and tokens; nil when it runs
// without.
func (l *Local) Secure() *launch.Secure { return l.secure }

// Dir is where the nodes keep their data and logs.
func (l *Local) Dir() string { return l.dir }

// Close stops every process by its PID: SIGTERM, then SIGKILL after 10s;
// then removes the directory if StartLocal made it. Safe to call twice.
func (l *Local) Close() error {
	if l.cluster != nil {
		l.cluster.Stop(10 * time.Second)
	}
	var errs []error
	for _, n := range l.nodes() {
		if err := n.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s (pid %d) did not stop cleanly: %w", n.ID, n.PID(), err))
		}
	}
	if l.ownsDir {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, err)
		}
		l.ownsDir = false
	}
	return errors.Join(errs...)
}

func (l *Local) nodes() []*launch.Node {
	if l.cluster == nil {
		return nil
	}
	return l.cluster.Nodes
}
