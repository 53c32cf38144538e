package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LocalConfig says how to start a local cluster of `dobj serve` processes.
type LocalConfig struct {
	Binary string // the dobj binary; default: this executable
	// Dir holds each node's data and log; default: a new temporary
	// directory, removed by Close unless Keep.
	Dir  string
	Keep bool
	// BasePort: node i (1-based) serves HTTP on 127.0.0.1:BasePort+i and
	// Raft on 127.0.0.1:BasePort+1000+i. Default 8080, the ports of DESIGN.md
	// (8081-8083, 9081-9083).
	BasePort int
	// RaftBasePort, when set, moves Raft to RaftBasePort+i (default
	// BasePort+1000), so that a cluster fits a narrow range of ports.
	RaftBasePort int
	Nodes        int           // default 3
	Ready        time.Duration // how long to wait for every node to be ready; default 30s
	Args         []string      // extra flags for every `serve`
}

// Local is a running local cluster.
type Local struct {
	cfg     LocalConfig
	ownsDir bool
	procs   []*localProc
	exits   chan error
}

// LocalNode describes one process of a Local cluster.
type LocalNode struct {
	ID, URL, LogPath string
	PID              int
}

type localProc struct {
	id      string
	url     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once Wait returned
	waitErr error
}

// StartLocal starts the cluster's processes and returns once every node
// answers /_ready with 200. On error, whatever it started is stopped.
func StartLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	if cfg.BasePort == 0 {
		cfg.BasePort = 8080
	}
	if cfg.RaftBasePort == 0 {
		cfg.RaftBasePort = cfg.BasePort + 1000
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
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
	l := &Local{cfg: cfg, exits: make(chan error, cfg.Nodes)}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "dobj-bench-")
		if err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		l.cfg.Dir, l.ownsDir = dir, !cfg.Keep
	}
	// A port already taken would have us measure whatever holds it.
	var peers []string
	for i := 1; i <= cfg.Nodes; i++ {
		for _, p := range []int{cfg.BasePort + i, cfg.RaftBasePort + i} {
			if err := portFree(p); err != nil {
				l.Close()
				return nil, fmt.Errorf("local cluster: %w (choose others with --base-port)", err)
			}
		}
		peers = append(peers, fmt.Sprintf("n%d=127.0.0.1:%d", i, cfg.RaftBasePort+i))
	}
	for i := 1; i <= cfg.Nodes; i++ {
		if err := l.start(i, strings.Join(peers, ",")); err != nil {
			l.Close()
			return nil, err
		}
	}
	if err := l.waitReady(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("port %d is in use", port)
	}
	return ln.Close()
}

func (l *Local) start(i int, peers string) error {
	id := "n" + strconv.Itoa(i)
	dataDir := filepath.Join(l.cfg.Dir, id)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(l.cfg.BasePort+i)
	args := append([]string{"serve",
		"--id", id,
		"--data-dir", dataDir,
		"--http-addr", httpAddr,
		"--raft-addr", "127.0.0.1:" + strconv.Itoa(l.cfg.RaftBasePort+i),
		"--peers", peers,
	}, l.cfg.Args...)
	logPath := filepath.Join(l.cfg.Dir, id+".log")
	// Appended to: a kept directory keeps the logs of earlier runs.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	// Not CommandContext: the processes are stopped by Close, gracefully.
	cmd := exec.Command(l.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C at the terminal reaches the caller
	// alone, which then stops the nodes one by one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("local cluster: start %s: %w", id, err)
	}
	p := &localProc{id: id, url: "http://" + httpAddr, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
		l.exits <- fmt.Errorf("%s (pid %d) exited: %v; its log ends with:\n%s", id, cmd.Process.Pid, p.waitErr, tail(logPath, 5))
	}()
	l.procs = append(l.procs, p)
	return nil
}

// waitReady polls every node's /_ready until all answer 200, a process
// exits, or the Ready deadline passes.
func (l *Local) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Ready)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		for _, p := range l.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("local cluster: %s exited (%v); its log:\n%s", p.id, p.waitErr, tail(p.logPath, 20))
			default:
			}
			if isReady(ctx, hc, p.url) {
				ready++
			}
		}
		if ready == len(l.procs) {
			return nil
		}
		select {
		case <-ctx.Done():
			var logs strings.Builder
			for _, p := range l.procs {
				fmt.Fprintf(&logs, "--- %s:\n%s\n", p.id, tail(p.logPath, 10))
			}
			return fmt.Errorf("local cluster: not ready after %v: %w\n%s", l.cfg.Ready, ctx.Err(), logs.String())
		case <-tick.C:
		}
	}
}

func isReady(ctx context.Context, hc *http.Client, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_ready", nil)
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

// URLs are the nodes' HTTP base URLs.
func (l *Local) URLs() []string {
	urls := make([]string, len(l.procs))
	for i, p := range l.procs {
		urls[i] = p.url
	}
	return urls
}

// Nodes describes the processes, in order n1, n2, ...
func (l *Local) Nodes() []LocalNode {
	nodes := make([]LocalNode, len(l.procs))
	for i, p := range l.procs {
		nodes[i] = LocalNode{ID: p.id, URL: p.url, LogPath: p.logPath, PID: p.cmd.Process.Pid}
	}
	return nodes
}

// Exits receives one error for each node process that exits, saying which
// and how (also those that Close stops: read it only before Close).
func (l *Local) Exits() <-chan error { return l.exits }

// Dir is where the nodes keep their data and logs.
func (l *Local) Dir() string { return l.cfg.Dir }

// Close stops every process by its PID: SIGTERM, then SIGKILL after 10s;
// then removes the directory if StartLocal made it. Safe to call twice.
func (l *Local) Close() error {
	var errs []error
	for _, p := range l.procs {
		select {
		case <-p.exited:
			continue
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("stop %s (pid %d): %w", p.id, p.cmd.Process.Pid, err))
		}
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for _, p := range l.procs {
		select {
		case <-p.exited:
		case <-deadline.C:
			// Past the grace period: kill this one and every one after it.
			deadline.Reset(0)
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	l.procs = nil
	if l.ownsDir {
		if err := os.RemoveAll(l.cfg.Dir); err != nil {
			errs = append(errs, err)
		}
		l.ownsDir = false
	}
	return errors.Join(errs...)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
