package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dobj/dobj/pki"
)

// Command is `dobj bench`: NewCommand binds its flags to a flag set, the
// caller parses it, and Run runs what they say.
type Command struct {
	o    Options
	mix  string
	urls string
	// workerURLs: --worker-urls, the Worker listeners with --urls.
	workerURLs string
	asJSON     bool
	quiet      bool
	local      LocalConfig
	keep       bool
	prefix     string
	op         string
	ca         string
	secure     bool
	// watches holds that many watch streams open on watchOn during the
	// load (idle: on objects the load never writes).
	watches int
	watchOn string
	idle    bool
}

// NewCommand defines bench's flags on fs.
func NewCommand(fs *flag.FlagSet) *Command {
	c := &Command{}
	fs.IntVar(&c.o.Clients, "c", 16, "closed-loop clients (each keeps one request in flight)")
	fs.IntVar(&c.o.Clients, "clients", 16, "closed-loop clients (each keeps one request in flight)")
	fs.DurationVar(&c.o.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&c.o.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&c.o.Warmup, "warmup", time.Second, "load sent before measuring starts")
	fs.IntVar(&c.o.Objects, "objects", 1000, "distinct objects, named PREFIX0 … PREFIX(N-1)")
	fs.StringVar(&c.prefix, "prefix", "", "start of the run's object names (default: bench-<time>-<random>-, new each run, so that the run can find and delete exactly what it wrote)")
	fs.StringVar(&c.mix, "mix", "increment=1", "op weights: increment, read (linearizable), stale_read, put, txn, class_increment, worker_increment, rpc_increment, sql_increment, sql_fill; e.g. increment=50,read=50")
	fs.StringVar(&c.op, "op", "", "one op alone, short for --mix OP=1 (e.g. --op class-increment: the counter as a deployed object class)")
	fs.StringVar(&c.urls, "urls", "", "comma-separated base URLs of the nodes, clients spread over them (default: start a local three-node cluster)")
	fs.StringVar(&c.workerURLs, "worker-urls", "", "comma-separated URLs of the nodes' Worker listeners, for worker_increment with --urls (a local cluster serves them on BASE+706+i: 8787-8789 by default, wrangler dev's first)")
	fs.StringVar(&c.o.WorkerStorage, "worker-storage", WorkerStorageSQLite, "storage of the Counter that worker_increment and rpc_increment call: sqlite (new_sqlite_classes, as the seed's; script dobj-bench-counter) or kv (new_classes; script dobj-bench-counter-kv)")
	fs.StringVar(&c.o.Target, "target", TargetDobj, "service under test: dobj; etcd (its HTTP/JSON gateway; increment and put are puts, read is a range); rqlite (sql_increment only: UPDATE … RETURNING of one row per object); or app, the seed's counter application on another Workers runtime such as workerd (worker_increment only; nothing deployed or deleted; bench/workerd.sh)")
	fs.DurationVar(&c.o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&c.asJSON, "json", false, "print one JSON object instead of the report")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.IntVar(&c.local.BasePort, "base-port", 8080, "local cluster: node i serves HTTP on base+i and Raft on base+1000+i")
	fs.StringVar(&c.local.Binary, "binary", "", "local cluster: the dobj binary whose serve runs the nodes (default: this one)")
	fs.StringVar(&c.o.Token, "token", "", "bearer token sent on every request (with --urls; a --secure local cluster uses its admin token)")
	fs.StringVar(&c.ca, "ca", "", "CA `file` that signed the nodes' HTTPS certificates (with --urls)")
	fs.BoolVar(&c.secure, "secure", false, "local cluster: TLS on the API and between the nodes, and tokens, as in production")
	fs.IntVar(&c.watches, "watches", 0, "hold this many watch streams open during the load (dobj only), one per object in turn, to measure what watching costs")
	fs.StringVar(&c.watchOn, "watch-url", "leader", "node the --watches stream from: a base URL, or leader")
	fs.BoolVar(&c.idle, "watch-idle", false, "the --watches follow objects the load never writes (what open but quiet watches cost), not the loaded ones (one event a write)")
	fs.BoolVar(&c.keep, "keep", false, "keep what the run wrote: with --urls its objects (deleted at the end otherwise), else the local cluster's data directory and logs")
	return c
}

// Main is `dobj bench` with its own flag set: it parses args and runs.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := NewCommand(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	return c.Run(ctx, stdout, stderr)
}

// runPrefix names a run's objects: bench-<UTC time>-<4 hex>-, unique
// enough that two runs, even in the same second, do not share objects.
func runPrefix(now time.Time) string {
	return fmt.Sprintf("%s%s-%04x-", DefaultPrefix, now.UTC().Format("20060102T150405"), rand.Uint32()&0xffff)
}

// Run starts a local cluster unless --urls is given, runs the load,
// prints the report (or JSON) and, against --urls, deletes the objects
// the run wrote unless --keep.
func (c *Command) Run(ctx context.Context, stdout, stderr io.Writer) error {
	o, err := c.options(stderr)
	if err != nil {
		return err
	}
	attached := len(o.URLs) > 0
	if !attached {
		stop, err := c.startLocal(ctx, &o, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The application's counters cannot be deleted: they stay.
	keep := c.keep || o.Target == TargetApp
	if attached && !c.quiet {
		then := "deleted at the end; --keep keeps them"
		switch {
		case o.Target == TargetApp:
			then = "kept (the application cannot delete them)"
		case c.keep:
			then = "kept (--keep)"
		}
		fmt.Fprintf(stderr, "objects %s0 … %s%d: %s\n", o.Prefix, o.Prefix, o.Objects-1, then)
	}
	w, err := c.openWatchers(ctx, o, stderr)
	if err != nil {
		return err
	}
	res, err := Run(ctx, o)
	if w != nil {
		bytes, ended := w.Close()
		fmt.Fprintf(stderr, "watch streams on %s: %d bytes of events received, %d ended early\n", w.URL, bytes, ended)
	}
	if err != nil {
		return err
	}
	if c.asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		WriteReport(stdout, res)
	}
	if attached && !keep {
		if err := c.removeObjects(ctx, o, stderr); err != nil {
			return err
		}
	}
	if res.Overall.Ops > 0 && res.Overall.Successes == 0 {
		return fmt.Errorf("bench: all %d ops failed", res.Overall.Ops)
	}
	return nil
}

// options are the run's Options from the flags; the progress line goes to
// stderr unless --quiet. URLs is empty when no --urls were given.
func (c *Command) options(stderr io.Writer) (Options, error) {
	o := c.o
	var err error
	if c.op != "" {
		c.mix = c.op + "=1"
	}
	if o.Mix, err = ParseMix(c.mix); err != nil {
		return o, fmt.Errorf("bench: %w", err)
	}
	for _, u := range strings.Split(c.urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.URLs = append(o.URLs, u)
		}
	}
	for _, u := range strings.Split(c.workerURLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.WorkerURLs = append(o.WorkerURLs, u)
		}
	}
	if !c.quiet {
		o.Progress = stderr
	}
	o.Prefix = c.prefix
	if o.Prefix == "" {
		o.Prefix = runPrefix(time.Now())
	}
	if c.ca != "" {
		if o.TLS, err = pki.ClientConfig(c.ca); err != nil {
			return o, fmt.Errorf("bench: --ca: %w", err)
		}
	}
	return o, nil
}

// startLocal starts the local three-node cluster a run without --urls
// measures, and points o at it (URLs, and its TLS and token when secure).
// stop stops it.
func (c *Command) startLocal(ctx context.Context, o *Options, stderr io.Writer) (stop func(), err error) {
	if o.Target != TargetDobj && o.Target != "" {
		return nil, fmt.Errorf("bench: --target %s needs --urls", o.Target)
	}
	local := c.local
	local.Keep = c.keep
	local.Secure = c.secure
	if o.Mix[OpWorkerIncrement] > 0 {
		local.WorkerPort = local.BasePort + workerPortOffset
	}
	fmt.Fprintf(stderr, "starting a local %d-node cluster on 127.0.0.1:%d-%d\n", 3, local.BasePort+1, local.BasePort+3)
	l, err := StartLocal(ctx, local)
	if err != nil {
		return nil, err
	}
	stop = func() {
		if cerr := l.Close(); cerr != nil {
			fmt.Fprintf(stderr, "bench: stopping the local cluster: %v\n", cerr)
		}
	}
	o.URLs = l.URLs()
	o.WorkerURLs = l.WorkerURLs()
	if sec := l.Secure(); sec != nil {
		if o.TLS, err = sec.ClientTLS(); err != nil {
			stop()
			return nil, fmt.Errorf("bench: %w", err)
		}
		o.Token = sec.Token
	}
	if c.keep {
		fmt.Fprintf(stderr, "local cluster data and logs: %s\n", l.Dir())
	}
	return stop, nil
}

// openWatchers opens the --watches streams that load the node during the
// run; nil without --watches.
func (c *Command) openWatchers(ctx context.Context, o Options, stderr io.Writer) (*Watchers, error) {
	if c.watches <= 0 {
		return nil, nil
	}
	base, err := resolveWatchURL(ctx, c.watchOn, o.URLs, o.Token, o.TLS)
	if err != nil {
		return nil, fmt.Errorf("bench: --watches: %w", err)
	}
	w, err := OpenWatchers(ctx, base, c.watches, o.Objects, o.Prefix, c.idle, o.Token, o.TLS)
	if err != nil {
		return nil, fmt.Errorf("bench: --watches: %w", err)
	}
	fmt.Fprintf(stderr, "%d watch streams open on %s\n", c.watches, base)
	return w, nil
}

// removeObjects deletes the objects a run wrote on a cluster it did not
// start, also after Ctrl-C: what the run wrote goes with it.
func (c *Command) removeObjects(ctx context.Context, o Options, stderr io.Writer) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n, err := Remove(rctx, o)
	if err != nil {
		return fmt.Errorf("%w (delete what is left with: dobj bench --urls … --prefix %s --objects %d, or DELETE /<name>/storage)", err, o.Prefix, o.Objects)
	}
	if !c.quiet {
		fmt.Fprintf(stderr, "deleted the run's %d objects (%s*)\n", n, o.Prefix)
	}
	return nil
}

// WriteReport prints res as a table: one row per op kind and one overall.
func WriteReport(w io.Writer, res *Result) {
	fmt.Fprintf(w, "target %s, %d clients over %d url(s), %d objects (%s0 … %s%d), mix %s, %.1fs measured after %.1fs warmup\n",
		res.Target, res.Clients, len(res.URLs), res.Objects, res.Prefix, res.Prefix, res.Objects-1, res.Mix, res.DurationSec, res.WarmupSec)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tops/s\tok\terrors\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	row := func(name string, s Stats) {
		l := s.LatencyMs
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t\n", name, s.OpsPerSec, s.Successes, s.Errors, l.P50, l.P95, l.P99, l.Max)
	}
	for _, n := range opNames {
		if s, ok := res.ByOp[n]; ok {
			row(n, s)
		}
	}
	if len(res.ByOp) > 1 {
		row("overall", res.Overall)
	}
	tw.Flush()
	if len(res.ErrorsByStatus) > 0 {
		var parts []string
		for s, n := range res.ErrorsByStatus {
			parts = append(parts, fmt.Sprintf("%s=%d", s, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "errors by status: %s\n", strings.Join(parts, " "))
	}
}
