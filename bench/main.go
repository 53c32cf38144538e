package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Main is `dobj bench`: it parses args, starts a local cluster unless
// --urls is given, runs the load and prints the report (or JSON).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o       Options
		mix     string
		urls    string
		asJSON  bool
		quiet   bool
		local   LocalConfig
		keepDir bool
		watches int
		watchOn string
		idle    bool
	)
	fs.IntVar(&o.Clients, "c", 16, "closed-loop clients (each keeps one request in flight)")
	fs.IntVar(&o.Clients, "clients", 16, "same as -c")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "same as --duration")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "load sent before measuring starts")
	fs.IntVar(&o.Objects, "objects", 1000, "distinct object names")
	fs.StringVar(&mix, "mix", "increment=1", "op weights: increment, read (linearizable), stale_read, put, txn; e.g. increment=50,read=50")
	fs.StringVar(&urls, "urls", "", "comma-separated base URLs of the nodes, clients spread over them (default: start a local three-node cluster)")
	fs.StringVar(&o.Target, "target", TargetDobj, "service under test: dobj, or etcd (its HTTP/JSON gateway; increment and put are puts, read is a range)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of the report")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	fs.IntVar(&local.BasePort, "base-port", 8080, "local cluster: node i serves HTTP on base+i and Raft on base+1000+i")
	fs.StringVar(&local.Binary, "binary", "", "local cluster: the dobj binary whose serve runs the nodes (default: this one)")
	fs.BoolVar(&keepDir, "keep", false, "local cluster: keep its data directory and logs")
	fs.IntVar(&watches, "watches", 0, "hold this many watch streams open during the load (dobj only), one per object in turn, to measure what watching costs")
	fs.StringVar(&watchOn, "watch-url", "leader", "node the --watches stream from: a base URL, or leader")
	fs.BoolVar(&idle, "watch-idle", false, "the --watches follow objects the load never writes (what open but quiet watches cost), not the loaded ones (one event a write)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Mix, err = ParseMix(mix); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.URLs = append(o.URLs, u)
		}
	}
	if !quiet {
		o.Progress = stderr
	}
	if len(o.URLs) == 0 {
		if o.Target == TargetEtcd {
			return errors.New("bench: --target etcd needs --urls")
		}
		local.Keep = keepDir
		fmt.Fprintf(stderr, "starting a local %d-node cluster on 127.0.0.1:%d-%d\n", 3, local.BasePort+1, local.BasePort+3)
		l, err := StartLocal(ctx, local)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := l.Close(); cerr != nil {
				fmt.Fprintf(stderr, "bench: stopping the local cluster: %v\n", cerr)
			}
		}()
		o.URLs = l.URLs()
		if keepDir {
			fmt.Fprintf(stderr, "local cluster data and logs: %s\n", l.Dir())
		}
	}
	var w *Watchers
	if watches > 0 {
		base, err := resolveWatchURL(ctx, watchOn, o.URLs)
		if err != nil {
			return fmt.Errorf("bench: --watches: %w", err)
		}
		if w, err = OpenWatchers(ctx, base, watches, o.Objects, idle); err != nil {
			return fmt.Errorf("bench: --watches: %w", err)
		}
		fmt.Fprintf(stderr, "%d watch streams open on %s\n", watches, base)
	}
	res, err := Run(ctx, o)
	if w != nil {
		bytes, ended := w.Close()
		fmt.Fprintf(stderr, "watch streams on %s: %d bytes of events received, %d ended early\n", w.URL, bytes, ended)
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		WriteReport(stdout, res)
	}
	if res.Overall.Ops > 0 && res.Overall.Successes == 0 {
		return fmt.Errorf("bench: all %d ops failed", res.Overall.Ops)
	}
	return nil
}

// WriteReport prints res as a table: one row per op kind and one overall.
func WriteReport(w io.Writer, res *Result) {
	fmt.Fprintf(w, "target %s, %d clients over %d url(s), %d objects, mix %s, %.1fs measured after %.1fs warmup\n",
		res.Target, res.Clients, len(res.URLs), res.Objects, res.Mix, res.DurationSec, res.WarmupSec)
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
