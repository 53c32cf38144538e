package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/launch"
)

// binary is the dobj executable built by TestMain, without -race: the
// nodes under test run it as `serve`.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		flag.Parse()
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "dobj-check-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = launch.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

func needBinary(t *testing.T) {
	t.Helper()
	if binary == "" {
		t.Skip("-short: no end-to-end check")
	}
}

// Base ports, one per test, in check's range 30000-31999 (HTTP and the
// Worker listeners below 31000, Raft above; e2e takes 27100-29799, bench
// 20000-26999; all below Linux's ephemeral ports from 32768, which an
// outgoing connection may hold): node i of a cluster at base uses base+i,
// base+50+i (Workers) and base+1000+i.
const (
	portsPass            = 30100
	portsStaleReads      = 30200
	portsAckBeforeCommit = 30300
	portsNoIdempotency   = 30400
)

// logNodeTails logs the last lines of each node's log of a check run
// whose --out was out, to say what the nodes did when it failed.
func logNodeTails(t *testing.T, out string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(out, "nodes", "*.log"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Logf("%s, last lines:\n%s", filepath.Base(p), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

// TestCheckPassesUnderEveryNemesis runs `dobj check` (the verb of the
// built binary) with every workload and every nemesis against a healthy
// cluster: it must exit 0 with a linearizable, converged report, after
// applying each kind of fault and with a lagging node catching up by a
// snapshot.
func TestCheckPassesUnderEveryNemesis(t *testing.T) {
	needBinary(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "check",
		"--duration", "45s", "--clients", "8", "--seed", "1",
		"--base-port", strconv.Itoa(portsPass), "--out", out, "--check-timeout", "60s")
	// Past the deadline, interrupt: dobj check then stops the nodes it
	// started, which a kill would leave running on this package's ports.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("dobj check:\n%s\n%s", stderr.String(), stdout.String())
	if err != nil {
		logNodeTails(t, out)
		t.Fatalf("dobj check failed on a healthy cluster: %v", err)
	}
	rep := readReport(t, out)
	if !rep.Pass || rep.Verdict != verdictOK || rep.Linearizability != "Ok" || !rep.Converged || len(rep.Problems) != 0 {
		t.Fatalf("report: verdict %q pass %v porcupine %q converged %v problems %q", rep.Verdict, rep.Pass, rep.Linearizability, rep.Converged, rep.Problems)
	}
	if !strings.Contains(stdout.String(), "dobj check: LINEARIZABLE") {
		t.Errorf("output lacks the verdict")
	}
	for _, kind := range Nemeses {
		if !slices.ContainsFunc(rep.Faults, func(f Fault) bool { return f.Kind == kind }) {
			t.Errorf("no %s fault applied: %+v", kind, rep.Faults)
		}
	}
	for _, f := range rep.Faults {
		if f.Err != "" || f.End < f.Start {
			t.Errorf("fault %s", f)
		}
	}
	for _, name := range []string{"register.read", "register.write", "register.cas", "counter.incr", "counter.read", "counter.resend", "set.add"} {
		if rep.Counts[name].OK == 0 {
			t.Errorf("no successful %s: %+v", name, rep.Counts)
		}
	}
	if rep.Ops < 1000 || rep.Resends == 0 || rep.FinalReads == 0 || rep.SetFinal < rep.Counts["set.add"].OK {
		t.Errorf("ops %d, resends %d, final reads %d, set %d of %d acknowledged adds", rep.Ops, rep.Resends, rep.FinalReads, rep.SetFinal, rep.Counts["set.add"].OK)
	}
	if rep.SnapshotsTaken == 0 || rep.SnapshotsInstalled == 0 {
		t.Errorf("snapshots taken %d, installed %d: no node caught up by a snapshot", rep.SnapshotsTaken, rep.SnapshotsInstalled)
	}
	if rep.Visualization != "" {
		t.Errorf("visualization %s written for a passing run without --visualize", rep.Visualization)
	}
}

// TestCheckCatchesKnownBugs starts the cluster with each known bug and the
// nemesis that exposes it best: the check must report a violation, with
// the evidence the bug leaves, and write the visualization.
func TestCheckCatchesKnownBugs(t *testing.T) {
	needBinary(t)
	tests := []struct {
		bug      string
		nemesis  string
		port     int
		evidence func(r *Report) bool
	}{
		// A leader cut off keeps answering reads from its own state, and so
		// do lagging followers: reads miss acknowledged writes.
		{"stale-reads", NemesisPartitionLeader, portsStaleReads, func(r *Report) bool {
			return r.Linearizability == "Illegal" && len(r.Illegal) > 0
		}},
		// Answers computed before commit: concurrent increments get the
		// same value, and writes acknowledged by a killed leader vanish.
		{"ack-before-commit", NemesisKillLeader, portsAckBeforeCommit, func(r *Report) bool {
			return r.Linearizability == "Illegal" && len(r.Illegal) > 0
		}},
		// A retried increment is applied again: the re-sent increments
		// answer a new value.
		{"no-idempotency", NemesisPauseLeader, portsNoIdempotency, func(r *Report) bool {
			return slices.ContainsFunc(r.Problems, func(p string) bool { return strings.HasPrefix(p, "idempotency:") })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.bug, func(t *testing.T) {
			cfg := Config{
				Binary:       binary,
				Dir:          t.TempDir(),
				BasePort:     tt.port,
				Duration:     15 * time.Second,
				Nemeses:      []string{tt.nemesis},
				Clients:      6,
				Bug:          tt.bug,
				Seed:         7,
				CheckTimeout: 60 * time.Second,
			}
			rep := runCheck(t, cfg, 40)
			if rep.Pass || rep.Verdict != verdictViolation {
				t.Fatalf("bug %s not caught: verdict %q", tt.bug, rep.Verdict)
			}
			if !tt.evidence(rep) {
				t.Errorf("bug %s: verdict violation, but not for the expected reason: %q", tt.bug, rep.Problems)
			}
			if fi, err := os.Stat(rep.Visualization); err != nil || fi.Size() == 0 {
				t.Errorf("visualization %q: %v", rep.Visualization, err)
			}
			if saved := readReport(t, cfg.Dir); saved.Verdict != rep.Verdict || saved.Ops != rep.Ops {
				t.Errorf("report.json says %q with %d ops, Run %q with %d", saved.Verdict, saved.Ops, rep.Verdict, rep.Ops)
			}
		})
	}
}

// TestCheckVerbRefusesBadFlags: unknown names and contradictory flags end
// the verb with exit status 1 before anything starts.
func TestCheckVerbRefusesBadFlags(t *testing.T) {
	needBinary(t)
	for _, args := range [][]string{
		{"--bug", "no-such-bug"},
		{"--workload", "queue"},
		{"--nemesis", "flood"},
		{"--urls", "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3", "--bug", "stale-reads"},
	} {
		cmd := exec.Command(binary, append([]string{"check", "--out", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("check %q: %v, want exit status 1; output:\n%s", args, err, out)
		}
	}
}

func readReport(t *testing.T, dir string) *Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…\n")
	}
	return strings.Join(lines, "")
}

// runCheck runs cfg within two minutes and logs check's output and the
// first lines of its report.
func runCheck(t *testing.T, cfg Config, lines int) *Report {
	t.Helper()
	var log bytes.Buffer
	cfg.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("check did not run: %v\n%s", err, log.String())
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Logf("%s%s", log.String(), firstLines(text.String(), lines))
	return rep
}
