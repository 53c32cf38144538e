package launch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dobj/dobj/pki"
)

// HTTPPort and RaftPort are the one port scheme: node i (1-based) of a
// cluster at base.
func HTTPPort(base, i int) int { return base + i }
func RaftPort(base, i int) int { return base + 1000 + i }

// Config says which cluster to launch.
type Config struct {
	Binary string // the dobj binary
	// Dir holds node i's data in Dir/ni and its log in Dir/ni.log.
	Dir      string
	BasePort int
	Nodes    int      // default 3
	Args     []string // extra serve flags for every node
	// Secure, when set, runs the cluster with TLS and tokens: see Secure.
	Secure *Secure
	// WorkerPort, when set, serves node i's Workers on
	// 127.0.0.1:WorkerPort+i-1 (--worker-addr).
	WorkerPort int
}

// Secure is what a cluster with TLS and tokens runs with: certificates
// for every node (a CA and <id>.crt, <id>.key, as `dobj certs` writes
// them) serving the API over HTTPS and mutual TLS between nodes, and a
// token file.
type Secure struct {
	CertDir  string // holds ca.crt and each node's <id>.crt and <id>.key
	AuthFile string // "ROLE TOKEN" lines
	// Token is an admin token, for callers that talk to the nodes;
	// Tokens, when known, has one token a role (MakeSecure).
	Token  string
	Tokens map[string]string
}

// serveArgs are a node's TLS flags.
func (s *Secure) serveArgs(id string) []string {
	crt, key := filepath.Join(s.CertDir, id+".crt"), filepath.Join(s.CertDir, id+".key")
	return []string{"--auth-file", s.AuthFile, "--tls-cert", crt, "--tls-key", key,
		"--peer-tls-cert", crt, "--peer-tls-key", key, "--peer-tls-ca", filepath.Join(s.CertDir, "ca.crt")}
}

// ClientTLS is the TLS configuration that trusts the cluster's CA.
func (s *Secure) ClientTLS() (*tls.Config, error) {
	return pki.ClientConfig(filepath.Join(s.CertDir, "ca.crt"))
}

// Cluster is a set of nodes n1..nN bootstrapped together with --peers.
type Cluster struct {
	Nodes  []*Node
	secure *Secure
}

// New prepares the nodes of cfg without starting them. It refuses ports
// already in use: a test or benchmark would otherwise talk to whatever
// holds them.
func New(cfg Config) (*Cluster, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Binary == "" || cfg.Dir == "" || cfg.BasePort == 0 {
		return nil, errors.New("launch: Binary, Dir and BasePort are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	var peers []string
	for i := 1; i <= cfg.Nodes; i++ {
		ports := []int{HTTPPort(cfg.BasePort, i), RaftPort(cfg.BasePort, i)}
		if cfg.WorkerPort != 0 {
			ports = append(ports, cfg.WorkerPort+i-1)
		}
		for _, p := range ports {
			if !Free(p) {
				return nil, fmt.Errorf("port %d is in use", p)
			}
		}
		peers = append(peers, fmt.Sprintf("n%d=127.0.0.1:%d", i, RaftPort(cfg.BasePort, i)))
	}
	c := &Cluster{secure: cfg.Secure}
	for i := 1; i <= cfg.Nodes; i++ {
		id := "n" + strconv.Itoa(i)
		n := &Node{
			ID:       id,
			HTTPAddr: "127.0.0.1:" + strconv.Itoa(HTTPPort(cfg.BasePort, i)),
			RaftAddr: "127.0.0.1:" + strconv.Itoa(RaftPort(cfg.BasePort, i)),
			DataDir:  filepath.Join(cfg.Dir, id),
			LogPath:  filepath.Join(cfg.Dir, id+".log"),
			binary:   cfg.Binary,
		}
		if cfg.Secure != nil {
			n.scheme = "https"
		}
		n.args = append([]string{"serve",
			"--id", id,
			"--data-dir", n.DataDir,
			"--http-addr", n.HTTPAddr,
			"--raft-addr", n.RaftAddr,
			"--peers", strings.Join(peers, ","),
		}, cfg.Args...)
		if cfg.Secure != nil {
			n.args = append(n.args, cfg.Secure.serveArgs(id)...)
		}
		if cfg.WorkerPort != 0 {
			n.WorkerAddr = "127.0.0.1:" + strconv.Itoa(cfg.WorkerPort+i-1)
			n.args = append(n.args, "--worker-addr", n.WorkerAddr)
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c, nil
}

// Start starts every node that is not running.
func (c *Cluster) Start() error {
	for _, n := range c.Nodes {
		if n.Running() {
			continue
		}
		if err := n.Start(); err != nil {
			return err
		}
	}
	return nil
}

// URLs are the nodes' API base URLs, in order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return urls
}

// Node returns the node with id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// WaitReady polls every running node's /_ready until all answer 200; it
// fails at once when a node exits, and after timeout, with the ends of
// the logs.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	if c.secure != nil {
		tc, err := c.secure.ClientTLS()
		if err != nil {
			return err
		}
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	defer hc.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		for _, n := range c.Nodes {
			if !n.Running() {
				return fmt.Errorf("%s exited (%v); its log:\n%s", n.ID, n.Err(), n.Tail(20))
			}
			if Ready(ctx, hc, n.URL()) {
				ready++
			}
		}
		if ready == len(c.Nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			var logs strings.Builder
			for _, n := range c.Nodes {
				fmt.Fprintf(&logs, "--- %s:\n%s\n", n.ID, n.Tail(10))
			}
			return fmt.Errorf("not ready after %v: %w\n%s", timeout, ctx.Err(), logs.String())
		case <-tick.C:
		}
	}
}

// Ready reports whether the node at url answers /_ready with 200.
func Ready(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_ready", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops every running node by its PID, all at once: SIGTERM, then
// SIGKILL after grace.
func (c *Cluster) Stop(grace time.Duration) {
	done := make(chan struct{}, len(c.Nodes))
	for _, n := range c.Nodes {
		go func() {
			n.Stop(grace)
			done <- struct{}{}
		}()
	}
	for range c.Nodes {
		<-done
	}
}

// Supervise calls onExit from the exit's goroutine whenever a node exits
// without the launcher having stopped or killed it.
func (c *Cluster) Supervise(onExit func(n *Node, err error)) {
	for _, n := range c.Nodes {
		n.mu.Lock()
		n.onExit = onExit
		n.mu.Unlock()
	}
}

// Build compiles the dobj binary into dir and returns its path. Tests
// that run nodes build it once per package run.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "dobj")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/dobj/dobj/cmd/dobj")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build dobj: %w\n%s", err, out)
	}
	return bin, nil
}

// NewNode prepares one node that is started with args (after "serve"),
// outside any Cluster: a node that joins a running cluster, say. The
// addresses and paths are what args say, for the caller's bookkeeping.
func NewNode(binary, id, httpAddr, raftAddr, dataDir, logPath string, args []string) *Node {
	return &Node{ID: id, HTTPAddr: httpAddr, RaftAddr: raftAddr, DataDir: dataDir, LogPath: logPath,
		binary: binary, args: append([]string{"serve"}, args...)}
}
