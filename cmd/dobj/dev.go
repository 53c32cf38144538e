package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dobj/dobj/bench"
	"github.com/dobj/dobj/client"
)

const (
	devNodes     = 3
	devReadyWait = 60 * time.Second
)

// dev runs a local three-node cluster: three child processes of this same
// executable running `serve`, data under --dir (kept between runs), until
// ctx is done; then it stops them by PID. The processes are bench's local
// cluster, which dobj bench starts the same way.
func dev(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("dev")
	dir := fs.String("dir", filepath.Join("data", "dev"), "data directory; node i keeps its data in DIR/ni and its log in DIR/ni.log")
	basePort := fs.Int("base-port", 8080, "node i serves HTTP on BASE+i and Raft on BASE+1000+i")
	raftBasePort := fs.Int("raft-base-port", 0, "node i serves Raft on RAFT+i instead (default BASE+1000)")
	if _, err := parseFlags(e, "dev", fs, args, false); err != nil {
		return helpOK(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev: find this executable: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("dev: --dir: %w", err)
	}
	fmt.Fprintf(e.stdout, "dobj dev: starting %d nodes (data in %s, logs in %s)...\n", devNodes, *dir, filepath.Join(*dir, "n*.log"))
	l, err := bench.StartLocal(ctx, bench.LocalConfig{
		Binary:       exe,
		Dir:          *dir,
		Keep:         true,
		BasePort:     *basePort,
		RaftBasePort: *raftBasePort,
		Nodes:        devNodes,
		Ready:        devReadyWait,
		Args:         fs.Args(), // passed on to every serve, after "--"
	})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer l.Close()

	nodes := l.Nodes()
	leader := leaderOf(ctx, nodes)
	for _, n := range nodes {
		role := ""
		if n.ID == leader {
			role = "  (leader)"
		}
		fmt.Fprintf(e.stdout, "  %s  %s  pid %d%s\n", n.ID, n.URL, n.PID, role)
	}
	u1, u2, u3 := nodes[0].URL, nodes[1].URL, nodes[2].URL
	fmt.Fprintf(e.stdout, `
Try (any node accepts any request):
  curl -X POST %[1]s/card-1/increment
  curl -X POST '%[2]s/card-1/increment?by=5'
  curl %[3]s/card-1
  curl -X PUT %[1]s/card-2/storage/owner -d '"ada"'
  curl '%[2]s/card-2/storage?prefix=o'
  curl %[3]s/_cluster/status
or with this binary: %[4]s incr card-1 --url %[2]s

Ctrl-C stops all three.
`, u1, u2, u3, selfCommand())

	for alive := len(nodes); alive > 0; alive-- {
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stdout, "dobj dev: stopping...")
			if err := l.Close(); err != nil {
				fmt.Fprintln(e.stderr, "dobj dev:", err)
			}
			fmt.Fprintln(e.stdout, "dobj dev: stopped; data kept in", *dir)
			return nil
		case err := <-l.Exits():
			fmt.Fprintln(e.stderr, "dobj dev:", err)
		}
	}
	return errors.New("dev: every node has exited")
}

// leaderOf asks the nodes who leads; "" if none says.
func leaderOf(ctx context.Context, nodes []bench.LocalNode) string {
	for _, n := range nodes {
		c := client.New(n.URL, client.WithTimeout(2*time.Second))
		st, err := c.Status(ctx)
		c.CloseIdleConnections()
		if err == nil && st.Leader.ID != "" {
			return st.Leader.ID
		}
	}
	return ""
}
