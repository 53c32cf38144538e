package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

const (
	devNodes     = 3
	devReadyWait = 60 * time.Second
	// devSegmentBytes keeps dev's Raft logs small on disk: raft-wal
	// preallocates each segment, 64 MiB a node by default.
	devSegmentBytes = 1 << 20
	// devRestartDelay paces restarts; a node that exits again sooner than
	// devCrashLoop after a restart, devMaxRestarts times in a row, is
	// left down.
	devRestartDelay = time.Second
	devCrashLoop    = 10 * time.Second
	devMaxRestarts  = 5
)

// dev runs a local three-node cluster: three child processes of this same
// executable running `serve`, data under --dir (kept between runs), until
// ctx is done; then it stops them by PID. It supervises them: a node that
// exits is reported, with the end of its log, and restarted, unless
// --no-restart.
func dev(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("dev")
	dir := fs.String("dir", filepath.Join("data", "dev"), "data directory; node i keeps its data in DIR/ni and its log in DIR/ni.log")
	basePort := fs.Int("base-port", 8080, "node i serves HTTP on BASE+i and Raft on BASE+1000+i")
	workerPort := fs.Int("worker-port", 8787, "node i serves the deployed scripts' Workers on WORKER-PORT+i-1 (0: none)")
	noRestart := fs.Bool("no-restart", false, "leave a node that exits down instead of restarting it")
	app := fs.String("app", "", "a Workers project directory to deploy once the cluster is ready, and again whenever its files change")
	secure := fs.Bool("secure", false, "serve with TLS (API and mutual TLS between nodes) and tokens: certificates in DIR/certs, tokens in DIR/tokens, made on the first run")
	if _, err := parseFlags(e, "dev", fs, args, false); err != nil {
		return helpOK(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev: find this executable: %w", err)
	}
	var sec *launch.Secure
	if *secure {
		if sec, err = launch.MakeSecure(*dir, devNodes); err != nil {
			return fmt.Errorf("dev: --secure: %w", err)
		}
	}
	c, err := launch.New(launch.Config{
		Binary:   exe,
		Dir:      *dir,
		BasePort: *basePort,
		Nodes:    devNodes,
		Secure:   sec,
		// Node 1's Workers at wrangler dev's port.
		WorkerPort: *workerPort,
		// Settings after "--" come last, so they win over dev's own.
		Args: append([]string{"--wal-segment-bytes", fmt.Sprint(devSegmentBytes)}, fs.Args()...),
	})
	if err != nil {
		return fmt.Errorf("dev: %w (choose others with --base-port)", err)
	}
	sup := &supervisor{out: e.stderr, restart: !*noRestart}
	c.Supervise(sup.exited)
	defer func() {
		sup.stop()
		c.Stop(10 * time.Second)
	}()
	fmt.Fprintf(e.stdout, "dobj dev: starting %d nodes (data in %s)...\n", devNodes, *dir)
	if err := c.Start(); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if err := c.WaitReady(ctx, devReadyWait); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	printBanner(ctx, e.stdout, c, sec)

	if *app != "" {
		watchApp(ctx, e.stdout, devClients(c, sec), *app, workerURLs(c), devPoll)
	}
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "dobj dev: stopping...")
	sup.stop()
	c.Stop(10 * time.Second)
	fmt.Fprintln(e.stdout, "dobj dev: stopped; data kept in", *dir)
	return nil
}

// printBanner shows the nodes, their PIDs and logs, and what to try.
func printBanner(ctx context.Context, w io.Writer, c *launch.Cluster, sec *launch.Secure) {
	var opts []client.Option
	if sec != nil {
		tc, _ := sec.ClientTLS()
		opts = []client.Option{client.WithToken(sec.Tokens["read"]), client.WithTLSConfig(tc)}
	}
	leader := leaderOf(ctx, c.URLs(), opts)
	for _, n := range c.Nodes {
		role := ""
		if n.ID == leader {
			role = "  (leader)"
		}
		fmt.Fprintf(w, "  %s  %s  pid %d  log %s%s\n", n.ID, n.URL(), n.PID(), n.LogPath, role)
	}
	printWorkers(w, c)
	if sec != nil {
		printSecureTry(w, c, sec)
		return
	}
	u1, u2, u3 := c.Nodes[0].URL(), c.Nodes[1].URL(), c.Nodes[2].URL()
	fmt.Fprintf(w, `
Try (any node accepts any request):
  curl -X POST %[1]s/card-1/increment
  curl -X POST '%[2]s/card-1/increment?by=5'
  curl %[3]s/card-1
  curl -X PUT %[1]s/card-2/storage/owner -H 'Content-Type: application/json' -d '"ada"'
  curl '%[2]s/card-2/storage?prefix=o'
  curl %[3]s/_cluster/status
or with this binary: %[4]s incr card-1 --url %[2]s
The web console: %[1]s/ (any node)

Ctrl-C stops all three.
`, u1, u2, u3, selfCommand())
}

// devClients are admin clients of the nodes in order (dev --app deploys
// through the first that is up).
func devClients(c *launch.Cluster, sec *launch.Secure) []*client.Client {
	var opts []client.Option
	if sec != nil {
		tc, _ := sec.ClientTLS()
		opts = []client.Option{client.WithToken(sec.Tokens["admin"]), client.WithTLSConfig(tc)}
	}
	var out []*client.Client
	for _, n := range c.Nodes {
		out = append(out, client.New(n.URL(), opts...))
	}
	return out
}

// leaderOf asks the nodes who leads; "" if none says. opts carry a
// secure cluster's token and CA.
func leaderOf(ctx context.Context, urls []string, opts []client.Option) string {
	for _, u := range urls {
		c := client.New(u, append([]client.Option{client.WithTimeout(2 * time.Second)}, opts...)...)
		st, err := c.Status(ctx)
		c.CloseIdleConnections()
		if err == nil && st.Leader.ID != "" {
			return st.Leader.ID
		}
	}
	return ""
}

// supervisor restarts the dev nodes that exit on their own, as a process
// supervisor would, and says so.
type supervisor struct {
	out     io.Writer
	restart bool

	mu      sync.Mutex // guards the fields below and writes to out
	stopped bool
	loops   map[string]int       // consecutive quick exits, by node
	started map[string]time.Time // last restart, by node
}

// exited is launch's callback for an exit dev did not cause.
func (s *supervisor) exited(n *launch.Node, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	fmt.Fprintf(s.out, "dobj dev: %s (pid %d) exited: %v; the end of its log (%s):\n%s\n", n.ID, n.PID(), err, n.LogPath, n.Tail(10))
	if !s.restart {
		fmt.Fprintf(s.out, "dobj dev: %s stays down (--no-restart)\n", n.ID)
		return
	}
	if s.loops == nil {
		s.loops, s.started = map[string]int{}, map[string]time.Time{}
	}
	if time.Since(s.started[n.ID]) < devCrashLoop {
		s.loops[n.ID]++
	} else {
		s.loops[n.ID] = 0
	}
	if s.loops[n.ID] >= devMaxRestarts {
		fmt.Fprintf(s.out, "dobj dev: %s exited %d times in a row within %v of a restart; leaving it down\n", n.ID, devMaxRestarts, devCrashLoop)
		return
	}
	time.AfterFunc(devRestartDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stopped {
			return
		}
		if err := n.Start(); err != nil {
			fmt.Fprintf(s.out, "dobj dev: restarting %s: %v\n", n.ID, err)
			return
		}
		s.started[n.ID] = time.Now()
		fmt.Fprintf(s.out, "dobj dev: restarted %s as pid %d\n", n.ID, n.PID())
	})
}

// stop ends the supervision: exits from now on are dev's own doing.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}
