package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
	"github.com/dobj/dobj/objects"
)

// Config is one check run.
type Config struct {
	Binary   string   // the dobj executable, started as `serve` three times (unless URLs)
	URLs     []string // attach to these running nodes instead; process nemeses are then unavailable
	Dir      string   // report, visualization, and the started nodes' data and logs
	BasePort int      // started node i serves HTTP on BasePort+i and Raft on BasePort+1000+i
	// Secure starts the nodes with TLS on the API and between them, and
	// tokens (made in Dir/nodes); the clients use the admin token.
	Secure            bool
	Duration          time.Duration // how long the clients and the nemesis run
	Workloads         []string      // nil: all of Workloads
	Nemeses           []string      // nil: all of Nemeses; empty and non-nil: none
	Clients           int           // concurrent clients
	Bug               string        // a known bug to start the nodes with (serve --unsafe-bug)
	Seed              int64         // the nemesis's and the clients' choices
	SnapshotThreshold uint64        // started nodes' --snapshot-threshold and --trailing-logs
	CheckTimeout      time.Duration // porcupine's budget; running out is inconclusive
	Visualize         bool          // write the visualization even when the history is linearizable
	Log               io.Writer     // progress; nil discards
}

// Defaults of Config.
const (
	DefaultDuration          = 60 * time.Second
	DefaultClients           = 8
	DefaultBasePort          = 31000 // check's tests take 30000-31999 (HTTP below 31000, Raft above), e2e's 27100-29799, bench's 20000-26999
	DefaultSnapshotThreshold = 64
	DefaultCheckTimeout      = 5 * time.Minute
)

// Bugs are the known bugs a node can be started with.
var Bugs = []string{"stale-reads", "ack-before-commit", "no-idempotency"}

const (
	startWait    = 60 * time.Second // until a started cluster is ready
	healWait     = 60 * time.Second // until every node is ready after the heal
	convergeWait = 60 * time.Second // until every node's digest is the same
	finalTries   = 10               // tries of each final read
	maxIllegal   = 10               // illegal keys quoted in the report and visualized
)

func (c *Config) setDefaults() error {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Clients <= 0 {
		c.Clients = DefaultClients
	}
	if c.BasePort == 0 {
		c.BasePort = DefaultBasePort
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = DefaultCheckTimeout
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Workloads == nil {
		c.Workloads = Workloads
	}
	if c.Nemeses == nil {
		c.Nemeses = Nemeses
	}
	if len(c.Workloads) == 0 {
		return errors.New("no workload")
	}
	deployed := 0
	for _, w := range c.Workloads {
		if slices.Contains(deployedWorkloads, w) {
			deployed++
		} else if !slices.Contains(Workloads, w) {
			return fmt.Errorf("unknown workload %q (known: %v, and %v)", w, Workloads, deployedWorkloads)
		}
	}
	if deployed > 1 {
		return fmt.Errorf("workloads %v: at most one of them runs at a time", deployedWorkloads)
	}
	if slices.Contains(c.Workloads, WorkloadWorker) {
		if len(c.URLs) > 0 {
			return fmt.Errorf("workload %s needs nodes check starts (with their Worker listeners), not --urls", WorkloadWorker)
		}
	}
	for _, n := range c.Nemeses {
		if !slices.Contains(Nemeses, n) {
			return fmt.Errorf("unknown nemesis %q (known: %v)", n, Nemeses)
		}
	}
	if c.Bug != "" && !slices.Contains(Bugs, c.Bug) {
		return fmt.Errorf("unknown bug %q (known: %v)", c.Bug, Bugs)
	}
	if len(c.URLs) > 0 {
		if len(c.URLs) < 2 {
			return errors.New("--urls needs every node of the cluster")
		}
		if c.Bug != "" {
			return errors.New("--bug starts a cluster: it cannot be used with --urls")
		}
	} else if c.Binary == "" {
		return errors.New("no dobj binary to start the cluster with")
	}
	if c.Dir == "" {
		return errors.New("no output directory")
	}
	return nil
}

// Run runs one check: it starts the cluster (or attaches to it), runs the
// clients and the nemesis for Duration, heals, waits for convergence,
// reads everything back and checks the history. The error is for a check
// that could not run (bad config, cluster not starting, interrupted); the
// verdict is in the Report, and written to Dir/report.json.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// The nemesis and the progress line write to it at the same time.
	cfg.Log = &lockedWriter{w: cfg.Log}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{
		Dir: cfg.Dir, Workloads: cfg.Workloads, Clients: cfg.Clients, Bug: cfg.Bug, Seed: cfg.Seed,
		Duration: cfg.Duration, Nemeses: []string{}, Attached: len(cfg.URLs) > 0,
	}

	nodes, procs, err := startNodes(ctx, &cfg, rep)
	defer func() {
		for _, n := range nodes {
			n.close()
		}
		if procs != nil {
			procs.Stop(stopGrace)
		}
	}()
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, rep: rep, nodes: nodes, procs: procs, h: newHistory()}
	if err := r.chooseNemeses(ctx); err != nil {
		return nil, err
	}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	if err := r.heal(ctx); err != nil {
		return nil, err
	}
	r.judge(ctx)
	return rep, nil
}

// run is one check's cluster, history and report, through its phases:
// load with faults, heal, judge.
type run struct {
	cfg        Config
	rep        *Report
	nodes      []*node
	procs      *launch.Cluster // nil when attached to --urls
	h          *history
	w          *workload
	partitions bool // the partition-leader nemesis runs: heal the partitions too
}

// chooseNemeses keeps the configured nemeses the run can use (those that
// stop processes need processes check started), and checks that fault
// injection is on when partitions are asked for.
func (r *run) chooseNemeses(ctx context.Context) error {
	for _, k := range r.cfg.Nemeses {
		if r.procs == nil && isProcessNemesis(k) {
			r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("nemesis %s is unavailable with --urls (check did not start the processes); skipped", k))
			continue
		}
		r.rep.Nemeses = append(r.rep.Nemeses, k)
	}
	r.partitions = slices.Contains(r.rep.Nemeses, NemesisPartitionLeader)
	if r.partitions {
		// Fault injection must be on (serve --test-faults): heal now, which
		// also proves it is.
		for _, n := range r.nodes {
			if err := n.admin.Partition(ctx, nil); err != nil {
				return fmt.Errorf("partition-leader needs nodes started with --test-faults: %s: %w", n.id, err)
			}
		}
	}
	return nil
}

// load runs the clients, the nemesis and the progress line for Duration,
// recording every operation and fault.
func (r *run) load(ctx context.Context) error {
	cfg := r.cfg
	runID := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x636865636b))
	r.w = newWorkload(ctx, cfg.Workloads, r.nodes, r.h, runID)
	switch ops := r.w.ops.(type) {
	case classOps:
		deploy := func() error { return deployCheckClass(ctx, r.nodes) }
		if ops.script != "" {
			deploy = func() error { return deployProject(ctx, r.nodes, sqlApp, "sqlapp", filepath.Join(cfg.Dir, "sqlapp")) }
		}
		if err := deploy(); err != nil {
			return err
		}
	case workerOps:
		if err := deployCheckWorker(ctx, r.nodes, filepath.Join(cfg.Dir, "workerapp")); err != nil {
			return err
		}
	}
	nem := &nemesis{nodes: r.nodes, kinds: r.rep.Nemeses, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), h: r.h, log: cfg.Log}

	fmt.Fprintf(cfg.Log, "check: %d clients, workloads %v, nemeses %v, %v (run %s)\n", cfg.Clients, cfg.Workloads, r.rep.Nemeses, cfg.Duration, runID)
	stop, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		c := &worker{w: r.w, id: i, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), node: i % len(r.nodes), lastSeen: map[string]string{}}
		wg.Add(1)
		go func() { defer wg.Done(); c.run(stop) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); nem.run(stop) }()
	progressCtx, stopProgress := context.WithCancel(stop)
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); progress(progressCtx, cfg.Log, progressEvery, r.h, nem) }()
	wg.Wait()
	stopProgress()
	<-progressDone
	r.rep.Faults = nem.recorded()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return nil
}

// heal ends every fault, then checks that the nodes agree and reads
// everything back, so that nothing acknowledged can be lost unseen.
func (r *run) heal(ctx context.Context) error {
	rep := r.rep
	healStart := r.h.now()
	fmt.Fprintln(r.cfg.Log, "check: healing, waiting for convergence")
	if err := healAll(ctx, r.nodes, r.partitions); err != nil {
		rep.Notes = append(rep.Notes, "heal: "+err.Error())
	}
	if err := waitReady(ctx, r.nodes, healWait); err != nil {
		rep.problem(verdictNotConverged, "after the heal: "+err.Error())
	}
	digests, err := waitConverged(ctx, r.nodes, convergeWait)
	rep.Digests = digests
	rep.Converged = err == nil
	if err != nil {
		rep.problem(verdictNotConverged, err.Error())
	}
	finalReads(ctx, r.w, r.cfg.Clients, rep)
	if slices.Contains(r.cfg.Workloads, WorkloadSet) {
		finalSet(ctx, r.w, rep)
	}
	rep.Faults = append(rep.Faults, Fault{Kind: "heal", Start: time.Duration(healStart), End: time.Duration(r.h.now()), Detail: "heal, convergence, final reads"})
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return nil
}

// judge checks the history (re-sends, counter bounds, linearizability)
// and the processes' logs, gives the verdict and writes the report, with
// the history drawn when the check failed or Visualize asks for it.
func (r *run) judge(ctx context.Context) {
	cfg, rep := r.cfg, r.rep
	ops, counts, resends, _ := r.h.snapshot()
	rep.Counts = counts
	rep.Ops = len(ops)
	rep.problems(verdictViolation, checkResends(resends), fmt.Sprintf("of %d re-sent increments", len(resends)))
	rep.Resends = len(resends)
	rep.problems(verdictViolation, checkCounterBounds(ops), "counter keys")
	for _, wl := range r.w.kinds {
		if !workloadSucceeded(counts, wl) {
			rep.problem(verdictInconclusive, fmt.Sprintf("workload %s: no operation succeeded", wl))
		}
	}
	for _, p := range procsOf(r.procs) {
		for _, c := range p.UnexpectedExits() {
			rep.problem(verdictInconclusive, c+"; see "+p.LogPath)
		}
		rep.SnapshotsTaken += p.CountLogLines("snapshot complete up to")
		rep.SnapshotsInstalled += p.CountLogLines("Installed remote snapshot")
	}

	fmt.Fprintf(cfg.Log, "check: checking %d operations for linearizability\n", len(ops))
	lin := checkLinearizable(ctx, ops, cfg.CheckTimeout)
	rep.Linearizability = string(lin.Result)
	rep.CheckTime = lin.Elapsed
	rep.Illegal = lin.Illegal
	switch lin.Result {
	case "Illegal":
		rep.problem(verdictViolation, fmt.Sprintf("history not linearizable: %d of %d keys", len(lin.Illegal), len(partition(ops))))
		if len(rep.Illegal) > maxIllegal {
			rep.Illegal = rep.Illegal[:maxIllegal]
		}
	case "Unknown":
		rep.problem(verdictInconclusive, fmt.Sprintf("linearizability check timed out after %v", cfg.CheckTimeout))
	}
	rep.finish()
	if !rep.Pass || cfg.Visualize {
		path := filepath.Join(cfg.Dir, "history.html")
		if err := visualize(ctx, ops, lin, rep.Faults, path); err != nil {
			rep.Notes = append(rep.Notes, "visualization: "+err.Error())
		} else {
			rep.Visualization = path
		}
	}
	if err := rep.writeJSON(filepath.Join(cfg.Dir, "report.json")); err != nil {
		rep.Notes = append(rep.Notes, "report.json: "+err.Error())
	}
}

// startNodes starts the three processes and waits until they are ready,
// or attaches to cfg.URLs and learns the nodes' ids.
func startNodes(ctx context.Context, cfg *Config, rep *Report) ([]*node, *launch.Cluster, error) {
	var nodes []*node
	if len(cfg.URLs) > 0 {
		for _, u := range cfg.URLs {
			n := newNode("", u, nil)
			st, err := n.admin.Status(ctx)
			if err != nil {
				return nodes, nil, fmt.Errorf("attach to %s: %w", u, err)
			}
			n.id = st.ID
			nodes = append(nodes, n)
		}
	} else {
		var sec *launch.Secure
		var opts []client.Option
		if cfg.Secure {
			var err error
			if sec, err = launch.MakeSecure(filepath.Join(cfg.Dir, "nodes"), 3); err != nil {
				return nil, nil, err
			}
			tc, err := sec.ClientTLS()
			if err != nil {
				return nil, nil, err
			}
			opts = []client.Option{client.WithTLSConfig(tc), client.WithToken(sec.Token)}
		}
		workerPort := 0
		if slices.Contains(cfg.Workloads, WorkloadWorker) {
			workerPort = cfg.BasePort + workerPortOffset + 1
		}
		procs, err := launchNodes(cfg.Binary, filepath.Join(cfg.Dir, "nodes"), cfg.BasePort, workerPort, cfg.SnapshotThreshold, cfg.Bug, sec)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (choose others with --base-port)", err)
		}
		for _, p := range procs.Nodes {
			n := newNode(p.ID, p.URL(), p, opts...)
			if p.WorkerAddr != "" {
				n.workerURL = "http://" + p.WorkerAddr
			}
			nodes = append(nodes, n)
			if err := p.Start(); err != nil {
				return nodes, procs, err
			}
		}
		fmt.Fprintf(cfg.Log, "check: started n1..n3 (logs in %s)\n", filepath.Join(cfg.Dir, "nodes"))
		if err := waitReady(ctx, nodes, startWait); err != nil {
			return nodes, procs, fmt.Errorf("cluster: %w (see the logs in %s)", err, filepath.Join(cfg.Dir, "nodes"))
		}
		for _, n := range nodes {
			rep.Nodes = append(rep.Nodes, fmt.Sprintf("%s %s pid %d", n.id, n.url, n.proc.PID()))
		}
		return nodes, procs, nil
	}
	if err := waitReady(ctx, nodes, startWait); err != nil {
		return nodes, nil, fmt.Errorf("cluster: %w", err)
	}
	for _, n := range nodes {
		rep.Nodes = append(rep.Nodes, n.id+" "+n.url)
	}
	return nodes, nil, nil
}

// finalReads reads every register and counter key through every node
// (linearizable reads, as clients Clients+i of the history) and checks that
// the nodes agree.
func finalReads(ctx context.Context, w *workload, clients int, rep *Report) {
	type result struct {
		vals   map[string]string // key -> value read
		failed []string
	}
	results := make([]result, len(w.nodes))
	var wg sync.WaitGroup
	for i, n := range w.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := result{vals: map[string]string{}}
			cid := clients + i
			final := Meta{Node: n.id, Final: true}
			for _, key := range w.regKeys.keys() {
				ok := retry(ctx, func() bool {
					call := w.h.now()
					v, found, err := w.ops.get(ctx, n, w.regObj, key)
					ret := w.h.now()
					if classify(err) != OK {
						return false
					}
					out := Output{Found: found}
					if found {
						out.Value = string(v)
					}
					w.h.add(cid, Input{Kind: KindRead, Object: w.regObj, Key: key}, out, call, ret, final)
					r.vals["register "+key] = out.Value
					return true
				})
				if !ok {
					r.failed = append(r.failed, "register "+key)
				}
			}
			for _, key := range w.cntKeys.keys() {
				ok := retry(ctx, func() bool {
					call := w.h.now()
					v, err := w.ops.count(ctx, n, w.cntObj, key)
					ret := w.h.now()
					if classify(err) != OK {
						return false
					}
					w.h.add(cid, Input{Kind: KindCount, Object: w.cntObj, Key: key}, Output{N: v}, call, ret, final)
					r.vals["counter "+key] = strconv.FormatInt(v, 10)
					return true
				})
				if !ok {
					r.failed = append(r.failed, "counter "+key)
				}
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for i, r := range results {
		if len(r.failed) > 0 {
			rep.problem(verdictInconclusive, fmt.Sprintf("final reads through %s failed for %d keys: %s", w.nodes[i].id, len(r.failed), sample(r.failed)))
		}
		rep.FinalReads += len(r.vals)
	}
	for k, v0 := range results[0].vals {
		for i := 1; i < len(results); i++ {
			if v, ok := results[i].vals[k]; ok && v != v0 {
				rep.problem(verdictViolation, fmt.Sprintf("final reads differ: %s is %s through %s, %s through %s", k, v0, w.nodes[0].id, v, w.nodes[i].id))
			}
		}
	}
}

// finalSet lists the set through every node, linearizable and then stale
// (each node's own state after convergence), and checks it against the
// adds.
func finalSet(ctx context.Context, w *workload, rep *Report) {
	_, _, _, adds := w.h.snapshot()
	rep.SetAdds = len(adds)
	finals := map[string][]string{}
	for _, stale := range []bool{false, true} {
		for _, n := range w.nodes {
			var elems []string
			ok := retry(ctx, func() bool {
				var err error
				elems, err = listAll(ctx, n, w.setObj, stale)
				return err == nil
			})
			mode := "linearizable"
			if stale {
				mode = "stale"
			}
			if !ok {
				rep.problem(verdictInconclusive, fmt.Sprintf("set: final %s read through %s failed", mode, n.id))
				continue
			}
			finals[n.id+" ("+mode+")"] = elems
			rep.SetFinal = len(elems)
		}
	}
	for _, p := range checkSet(adds, finals) {
		rep.problem(verdictViolation, p)
	}
}

// listAll lists every key of object through n, page by page.
func listAll(ctx context.Context, n *node, object string, stale bool) ([]string, error) {
	var keys []string
	after := ""
	for {
		entries, more, err := n.c.List(ctx, object, objects.ListOptions{StartAfter: after}, client.ReadOptions{Stale: stale})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			keys = append(keys, e.Key)
		}
		if !more || len(entries) == 0 {
			return keys, nil
		}
		after = entries[len(entries)-1].Key
	}
}

// retry calls f until it succeeds, finalTries times, backing off.
func retry(ctx context.Context, f func() bool) bool {
	for i := 0; i < finalTries; i++ {
		if f() {
			return true
		}
		if !sleep(ctx, time.Duration(100*(i+1))*time.Millisecond) {
			return false
		}
	}
	return false
}

// checkCounterBounds checks each counter key's final read (after the
// heal, with nothing in flight) against its increments: at least every
// acknowledged one, at most those plus the unknown ones. Porcupine finds
// the same; this names it plainly.
func checkCounterBounds(ops []porcupine.Operation) []string {
	type bounds struct {
		ok, unknown int64
		last        int64
		read        bool
	}
	keys := map[string]*bounds{}
	var order []string
	for _, op := range ops {
		in := op.Input.(Input)
		if in.Kind != KindIncr && in.Kind != KindCount {
			continue
		}
		k := in.Object + "/" + in.Key
		b := keys[k]
		if b == nil {
			b = &bounds{}
			keys[k] = b
			order = append(order, k)
		}
		out := op.Output.(Output)
		switch {
		case in.Kind == KindIncr && out.Unknown:
			b.unknown++
		case in.Kind == KindIncr:
			b.ok++
		case op.Metadata.(Meta).Final:
			b.last, b.read = out.N, true
		}
	}
	var problems []string
	for _, k := range order {
		b := keys[k]
		if !b.read {
			continue
		}
		if b.last < b.ok {
			problems = append(problems, fmt.Sprintf("counter %s: last read %d, but %d increments were acknowledged (lost increments)", k, b.last, b.ok))
		}
		if b.last > b.ok+b.unknown {
			problems = append(problems, fmt.Sprintf("counter %s: last read %d, but only %d increments were acknowledged and %d unknown (applied twice, or applied though failed)", k, b.last, b.ok, b.unknown))
		}
	}
	return problems
}

func workloadSucceeded(counts map[string]Counts, wl string) bool {
	for name, c := range counts {
		if len(name) > len(wl) && name[:len(wl)] == wl && name[len(wl)] == '.' && c.OK > 0 {
			return true
		}
	}
	return false
}

// procsOf is the nodes check started, none when attached.
func procsOf(c *launch.Cluster) []*launch.Node {
	if c == nil {
		return nil
	}
	return c.Nodes
}
