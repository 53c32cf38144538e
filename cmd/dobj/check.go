package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dobj/dobj/check"
)

// checkVerb is `dobj check`: a Jepsen-style linearizability check of a
// three-node cluster of this same binary (or of running nodes, --urls)
// under faults. It fails unless the history is linearizable, the check
// conclusive, the nodes converged and nothing acknowledged was lost.
func checkVerb(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("check")
	duration := fs.Duration("duration", check.DefaultDuration, "how long clients and nemesis run")
	workloads := fs.String("workload", "all", "comma-separated: "+strings.Join(check.Workloads, ",")+", or all; "+check.WorkloadClass+" runs register and counter through a deployed object class, "+check.WorkloadWorker+" through a deployed Worker and RPC, "+check.WorkloadSQL+" through an SQLite-backed class's SQL tables")
	nemeses := fs.String("nemesis", "all", "comma-separated: "+strings.Join(check.Nemeses, ",")+", all or none")
	clients := fs.Int("clients", check.DefaultClients, "concurrent clients")
	urls := fs.String("urls", "", "comma-separated URLs of every node of a running cluster to attach to (no process nemeses then)")
	bug := fs.String("bug", "", "start the cluster with a known bug: "+strings.Join(check.Bugs, ", ")+" (the check must fail)")
	out := fs.String("out", "", "directory for the report, the visualization and the nodes' data and logs (default: a new one under $TMPDIR)")
	basePort := fs.Int("base-port", check.DefaultBasePort, "node i serves HTTP on BASE+i and Raft on BASE+1000+i")
	seed := fs.Int64("seed", 0, "seed of the clients' and the nemesis's choices (default: from the clock)")
	visualize := fs.Bool("visualize", false, "write the HTML visualization even when the history is linearizable")
	secure := fs.Bool("secure", false, "start the nodes with TLS on the API and between them, and tokens (the clients use the admin token)")
	checkTimeout := fs.Duration("check-timeout", check.DefaultCheckTimeout, "budget of the linearizability search; running out is inconclusive")
	threshold := fs.Uint64("snapshot-threshold", check.DefaultSnapshotThreshold, "the nodes' --snapshot-threshold and --trailing-logs: low, so lagging nodes install snapshots")
	pos, err := parseFlags(e, "check", fs, args, false)
	if err != nil {
		return helpOK(err)
	}
	if len(pos) > 0 {
		return usageError("check")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("check: find this executable: %w", err)
	}
	cfg := check.Config{
		Binary:            exe,
		Duration:          *duration,
		Workloads:         splitList(*workloads, "all"),
		Nemeses:           splitList(*nemeses, "all"),
		Clients:           *clients,
		URLs:              splitList(*urls, ""),
		Bug:               *bug,
		Dir:               *out,
		BasePort:          *basePort,
		Seed:              *seed,
		Visualize:         *visualize,
		Secure:            *secure,
		CheckTimeout:      *checkTimeout,
		SnapshotThreshold: *threshold,
		Log:               e.stderr,
	}
	if *nemeses == "none" {
		cfg.Nemeses = []string{}
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(os.TempDir(), "dobj-check-"+time.Now().Format("20060102-150405"))
	}
	rep, err := check.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("check: %w (nodes' logs and data in %s)", err, cfg.Dir)
	}
	rep.WriteText(e.stdout)
	if !rep.Pass {
		return fmt.Errorf("check: %s", rep.Verdict)
	}
	return nil
}

// splitList splits a comma-separated flag; all, the flag's word for
// everything, gives nil (check.Config's "all").
func splitList(s, all string) []string {
	if s == all {
		return nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
