package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// The nemeses. Process faults need nodes that check started itself.
const (
	NemesisKillRandom      = "kill-random"      // SIGKILL a random node, restart it on the same data dir after a while
	NemesisKillLeader      = "kill-leader"      // the same, to the leader
	NemesisPauseLeader     = "pause-leader"     // SIGSTOP the leader for longer than an election, then SIGCONT
	NemesisPartitionLeader = "partition-leader" // cut the leader off from the others, alone or with one follower; heal
)

// Nemeses lists every nemesis, in the order --nemesis documents them.
var Nemeses = []string{NemesisKillRandom, NemesisKillLeader, NemesisPauseLeader, NemesisPartitionLeader}

func isProcessNemesis(kind string) bool { return kind != NemesisPartitionLeader }

// Fault is one fault the nemesis applied: when (since the run's start),
// to which nodes, and whether applying or healing it failed.
type Fault struct {
	Kind   string        `json:"kind"`
	Nodes  []string      `json:"nodes"`
	Start  time.Duration `json:"start_ns"`
	End    time.Duration `json:"end_ns"`
	Detail string        `json:"detail,omitempty"`
	Err    string        `json:"error,omitempty"`
}

func (f Fault) String() string {
	s := fmt.Sprintf("%8.3fs – %8.3fs  %-16s %s", f.Start.Seconds(), f.End.Seconds(), f.Kind, strings.Join(f.Nodes, ","))
	if f.Detail != "" {
		s += "  " + f.Detail
	}
	if f.Err != "" {
		s += "  ERROR: " + f.Err
	}
	return s
}

// Timing of the schedule: a quiet period, a fault held for a while, a
// heal, and a wait until every node is ready again.
var (
	quietMin, quietMax = 1500 * time.Millisecond, 3 * time.Second
	holdMin, holdMax   = 2 * time.Second, 5 * time.Second
	recoverWait        = 30 * time.Second
)

// nemesis applies one fault at a time, chosen at random among kinds,
// until its context ends.
type nemesis struct {
	nodes []*node
	kinds []string
	rng   *rand.Rand
	h     *history
	log   io.Writer

	mu      sync.Mutex
	faults  []Fault
	current string // the fault in progress, for the progress line; "" between faults
}

func (n *nemesis) since() time.Duration { return time.Duration(n.h.now()) }

func (n *nemesis) record(f Fault) {
	n.mu.Lock()
	n.faults = append(n.faults, f)
	n.mu.Unlock()
	fmt.Fprintf(n.log, "check: fault %s\n", f)
}

func (n *nemesis) recorded() []Fault {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Fault(nil), n.faults...)
}

func (n *nemesis) duration(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)+1))
}

// run applies faults until ctx ends; a fault in progress then is healed
// at once. The kinds come in rounds, each a random order of all of them,
// so that a short run still applies every one.
func (n *nemesis) run(ctx context.Context) {
	if len(n.kinds) == 0 {
		return
	}
	var round []string
	for sleep(ctx, n.duration(quietMin, quietMax)) {
		if len(round) == 0 {
			round = append(round, n.kinds...)
			n.rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		kind := round[0]
		round = round[1:]
		if f, ok := n.apply(ctx, kind); ok {
			n.record(f)
		}
		// The next fault waits for a whole cluster: faults that pile up
		// on a cluster still recovering test little but unavailability.
		if err := waitReady(ctx, n.nodes, recoverWait); err != nil && ctx.Err() == nil {
			fmt.Fprintf(n.log, "check: cluster not recovered after the last fault: %v\n", err)
		}
	}
}

// apply runs one fault from start to heal. ok is false when the fault
// could not start (no leader known): nothing happened then.
func (n *nemesis) apply(ctx context.Context, kind string) (Fault, bool) {
	// Healing must happen even when ctx has ended.
	heal := context.WithoutCancel(ctx)
	var target *node
	switch kind {
	case NemesisKillRandom:
		var up []*node
		for _, nd := range n.nodes {
			if nd.up() {
				up = append(up, nd)
			}
		}
		if len(up) > 0 {
			target = up[n.rng.IntN(len(up))]
		}
	default:
		target = leader(ctx, n.nodes)
	}
	if target == nil {
		fmt.Fprintf(n.log, "check: %s skipped: no target (no leader known)\n", kind)
		return Fault{}, false
	}
	f := Fault{Kind: kind, Nodes: []string{target.id}, Start: n.since()}
	n.setInProgress(kind + " " + target.id)
	defer n.setInProgress("")
	var err error
	switch kind {
	case NemesisKillRandom, NemesisKillLeader:
		f.Detail = fmt.Sprintf("pid %d", target.proc.PID())
		if err = target.proc.Kill(); err == nil {
			sleep(ctx, n.duration(holdMin/2, holdMax/2))
			if err = target.proc.Start(); err == nil {
				f.Detail += fmt.Sprintf(", restarted as pid %d", target.proc.PID())
			}
		}
	case NemesisPauseLeader:
		if err = target.proc.Pause(); err == nil {
			// Longer than an election: the others elect a new leader
			// and the paused one wakes up deposed.
			sleep(ctx, n.duration(holdMin+time.Second, holdMax))
			err = target.proc.Resume()
		}
	case NemesisPartitionLeader:
		err = n.partition(ctx, heal, target, &f)
	}
	f.End = n.since()
	if err != nil {
		f.Err = err.Error()
	}
	return f, true
}

// partition cuts leader off from the others, alone or with one follower,
// symmetrically (each side blocks the other), holds, and heals.
func (n *nemesis) partition(ctx, heal context.Context, leader *node, f *Fault) error {
	side := []*node{leader}
	var others []*node
	for _, nd := range n.nodes {
		if nd != leader {
			others = append(others, nd)
		}
	}
	if n.rng.IntN(2) == 0 {
		i := n.rng.IntN(len(others))
		side = append(side, others[i])
		others = append(others[:i:i], others[i+1:]...)
	}
	ids := func(ns []*node) []string {
		var s []string
		for _, nd := range ns {
			s = append(s, nd.id)
		}
		return s
	}
	f.Nodes = ids(side)
	f.Detail = "cut off from " + strings.Join(ids(others), ",")
	var errs []error
	for _, nd := range side {
		errs = append(errs, nd.admin.Partition(heal, ids(others)))
	}
	for _, nd := range others {
		errs = append(errs, nd.admin.Partition(heal, ids(side)))
	}
	if err := errors.Join(errs...); err == nil {
		sleep(ctx, n.duration(holdMin+time.Second, holdMax+time.Second))
	} else {
		errs = []error{err}
	}
	for _, nd := range n.nodes {
		errs = append(errs, nd.admin.Partition(heal, nil))
	}
	return errors.Join(errs...)
}

// healAll undoes every fault: heals partitions on the nodes that are up,
// resumes paused nodes and restarts killed ones (a restarted node starts
// with no partition).
func healAll(ctx context.Context, nodes []*node, partitions bool) error {
	var errs []error
	for _, nd := range nodes {
		if nd.proc != nil && nd.proc.Paused() {
			errs = append(errs, nd.proc.Resume())
		}
		if partitions && (nd.proc == nil || nd.proc.Running()) {
			errs = append(errs, healPartition(ctx, nd, healWait))
		}
		if nd.proc != nil && !nd.proc.Running() {
			errs = append(errs, nd.proc.Start())
		}
	}
	return errors.Join(errs...)
}

// healPartition clears nd's partition, asking again every pollPeriod
// while the node does not answer, for at most timeout: a node that the
// last fault restarted may still be starting, and the run's heal must not
// be reported as failed for that.
func healPartition(ctx context.Context, nd *node, timeout time.Duration) error {
	var err error
	if poll(ctx, timeout, func(ctx context.Context) bool {
		err = nd.admin.Partition(ctx, nil)
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("%s: %w", nd.id, err)
}
