package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

const (
	devNodes      = 3
	devReadyWait  = 60 * time.Second
	devStopWait   = 15 * time.Second
	devPollPeriod = 100 * time.Millisecond
)

// devNode is one child `dobj serve` process of dev.
type devNode struct {
	id, url, logPath string
	cmd              *exec.Cmd
	exited           chan struct{} // closed when the process has been waited for
	err              error         // its exit status, once exited is closed
}

// dev runs a local three-node cluster: three child processes of this same
// executable running `serve`, data under --dir (kept between runs), until
// ctx is done; then it stops them by PID.
func dev(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dir := fs.String("dir", filepath.Join("data", "dev"), "data directory; node i keeps its data in DIR/ni and its log in DIR/ni.log")
	basePort := fs.Int("base-port", 8080, "node i serves HTTP on BASE+i and Raft on BASE+1000+i")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError("dev")
	}
	extra := fs.Args() // passed on to every serve, after "--"
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev: find this executable: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("dev: --dir: %w", err)
	}

	var peers []string
	for i := 1; i <= devNodes; i++ {
		for _, port := range []int{*basePort + i, *basePort + 1000 + i} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				return fmt.Errorf("dev: port %d is in use (another dobj dev? choose others with --base-port): %w", port, err)
			}
			ln.Close()
		}
		peers = append(peers, fmt.Sprintf("n%d=127.0.0.1:%d", i, *basePort+1000+i))
	}

	var nodes []*devNode
	defer func() { stopAll(e.stderr, nodes) }()
	for i := 1; i <= devNodes; i++ {
		id := "n" + strconv.Itoa(i)
		httpAddr := "127.0.0.1:" + strconv.Itoa(*basePort+i)
		serveArgs := append([]string{"serve",
			"--id", id,
			"--data-dir", filepath.Join(*dir, id),
			"--http-addr", httpAddr,
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(*basePort+1000+i),
			"--peers", strings.Join(peers, ","),
		}, extra...)
		n, err := startDevNode(exe, id, "http://"+httpAddr, filepath.Join(*dir, id+".log"), serveArgs)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		nodes = append(nodes, n)
	}
	fmt.Fprintf(e.stdout, "dobj dev: starting %d nodes (data in %s, logs in %s)...\n", devNodes, *dir, filepath.Join(*dir, "n*.log"))

	if err := waitAllReady(ctx, nodes); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	leader := leaderOf(ctx, nodes)
	for _, n := range nodes {
		role := ""
		if n.id == leader {
			role = "  (leader)"
		}
		fmt.Fprintf(e.stdout, "  %s  %s  pid %d%s\n", n.id, n.url, n.cmd.Process.Pid, role)
	}
	u1, u2, u3 := nodes[0].url, nodes[1].url, nodes[2].url
	fmt.Fprintf(e.stdout, `
Try (any node accepts any request):
  curl -X POST %[1]s/card-1/increment
  curl -X POST '%[2]s/card-1/increment?by=5'
  curl %[3]s/card-1
  curl -X PUT %[1]s/card-2/storage/owner -d '"ada"'
  curl '%[2]s/card-2/storage?prefix=o'
  curl %[3]s/_cluster/status
or with this binary: dobj incr card-1 --url %[2]s

Ctrl-C stops all three.
`, u1, u2, u3)

	exited := make(chan *devNode, len(nodes))
	for _, n := range nodes {
		go func() {
			<-n.exited
			exited <- n
		}()
	}
	for alive := len(nodes); alive > 0; alive-- {
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stdout, "dobj dev: stopping...")
			stopAll(e.stderr, nodes)
			fmt.Fprintln(e.stdout, "dobj dev: stopped; data kept in", *dir)
			return nil
		case n := <-exited:
			fmt.Fprintf(e.stderr, "dobj dev: %s (pid %d) exited: %v; its log ends with:\n%s\n", n.id, n.cmd.Process.Pid, n.err, tail(n.logPath, 5))
		}
	}
	return errors.New("dev: every node has exited")
}

func startDevNode(exe, id, url, logPath string, args []string) (*devNode, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C at the terminal reaches dev alone,
	// which then stops the nodes one by one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	n := &devNode{id: id, url: url, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		n.err = cmd.Wait()
		logFile.Close()
		close(n.exited)
	}()
	return n, nil
}

// stopAll sends SIGTERM to every node still running, by PID, waits for
// them and kills those still running after devStopWait.
func stopAll(w io.Writer, nodes []*devNode) {
	for _, n := range nodes {
		select {
		case <-n.exited:
		default:
			if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				fmt.Fprintf(w, "dobj dev: stop %s (pid %d): %v\n", n.id, n.cmd.Process.Pid, err)
			}
		}
	}
	deadline := time.NewTimer(devStopWait)
	defer deadline.Stop()
	for _, n := range nodes {
		select {
		case <-n.exited:
		case <-deadline.C:
			deadline.Reset(0) // past the grace period: kill this one and the rest
			fmt.Fprintf(w, "dobj dev: %s (pid %d) did not stop in %v; killing it\n", n.id, n.cmd.Process.Pid, devStopWait)
			n.cmd.Process.Kill()
			<-n.exited
		}
	}
}

// waitAllReady polls /_ready on every node until all answer 200, a node
// exits, or devReadyWait passes.
func waitAllReady(ctx context.Context, nodes []*devNode) error {
	ctx, cancel := context.WithTimeout(ctx, devReadyWait)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	tick := time.NewTicker(devPollPeriod)
	defer tick.Stop()
	for {
		ready := 0
		for _, n := range nodes {
			select {
			case <-n.exited:
				return fmt.Errorf("%s exited before it was ready (%v); its log ends with:\n%s", n.id, n.err, tail(n.logPath, 10))
			default:
			}
			if get200(ctx, hc, n.url+"/_ready") {
				ready++
			}
		}
		if ready == len(nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not ready after %v: %w (see their logs)", devReadyWait, ctx.Err())
		case <-tick.C:
		}
	}
}

func get200(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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

// leaderOf asks the nodes who leads; "" if none says.
func leaderOf(ctx context.Context, nodes []*devNode) string {
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	for _, n := range nodes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/_cluster/status", nil)
		if err != nil {
			continue
		}
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var st struct {
			Leader struct {
				ID string `json:"id"`
			} `json:"leader"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.Leader.ID != "" {
			return st.Leader.ID
		}
	}
	return ""
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
