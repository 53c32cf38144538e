package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/client"
)

// Options describe one run.
type Options struct {
	Target string   // TargetDobj (default), TargetEtcd, TargetRqlite or TargetApp
	URLs   []string // base URLs; client i talks to URLs[i%len(URLs)]
	// WorkerURLs are the nodes' Worker listeners, for OpWorkerIncrement:
	// client i sends it to WorkerURLs[i%len(WorkerURLs)].
	WorkerURLs []string
	// WorkerStorage is the storage of the Counter that worker_increment
	// and rpc_increment call: WorkerStorageSQLite (default, as the seed)
	// or WorkerStorageKV.
	WorkerStorage string
	Clients       int // closed-loop clients, each with one request in flight
	Duration      time.Duration
	Warmup        time.Duration // load sent but not measured before Duration starts
	Objects       int           // distinct object names, picked uniformly
	// Prefix starts every object name: objects are Prefix0 … PrefixN-1
	// (default DefaultPrefix). A run against a cluster holding other data
	// names its own, so that Remove finds exactly what it wrote.
	Prefix  string
	Mix     Mix
	Timeout time.Duration // per request; default 10s
	// Token, when set, is sent as a bearer token on every request; TLS
	// is the client's configuration for https URLs.
	Token string
	TLS   *tls.Config
	// Progress, when set, gets a line a second while the run goes on.
	Progress io.Writer
}

// Result is what a run measured. Ops started during the warmup are not in
// it; ops started during the measured window are, even if they finish a
// little after it.
type Result struct {
	Target         string           `json:"target"`
	URLs           []string         `json:"urls"`
	Clients        int              `json:"clients"`
	Objects        int              `json:"objects"`
	Prefix         string           `json:"prefix"` // object names are prefix0 … prefix(objects-1)
	Mix            string           `json:"mix"`
	WarmupSec      float64          `json:"warmup_s"`
	DurationSec    float64          `json:"duration_s"` // measured window (shorter if interrupted)
	Overall        Stats            `json:"overall"`
	ByOp           map[string]Stats `json:"by_op"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
}

// setDefaults fills what o leaves zero and has a default: the prefix of
// object names and the per-request timeout.
func (o *Options) setDefaults() {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

func (o *Options) validate() error {
	var errs []error
	if len(o.URLs) == 0 {
		errs = append(errs, errors.New("no URLs"))
	}
	if o.Clients < 1 {
		errs = append(errs, fmt.Errorf("clients %d: want at least 1", o.Clients))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v: want more than 0", o.Duration))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup %v: want 0 or more", o.Warmup))
	}
	if o.Objects < 1 {
		errs = append(errs, fmt.Errorf("objects %d: want at least 1", o.Objects))
	}
	if o.Mix.total() == 0 {
		errs = append(errs, errors.New("mix: no op has a positive weight"))
	}
	if o.Mix[OpWorkerIncrement] > 0 && (len(o.WorkerURLs) == 0 || o.Target == TargetEtcd) && o.Target != TargetApp {
		errs = append(errs, errors.New("worker_increment needs dobj's Worker listeners (WorkerURLs)"))
	}
	if o.Mix[OpRPCIncrement] > 0 && o.Target != TargetDobj && o.Target != "" {
		errs = append(errs, errors.New("rpc_increment is an op of dobj only"))
	}
	if o.WorkerStorage != "" && o.WorkerStorage != WorkerStorageSQLite && o.WorkerStorage != WorkerStorageKV {
		errs = append(errs, fmt.Errorf("worker storage %q: want %s or %s", o.WorkerStorage, WorkerStorageSQLite, WorkerStorageKV))
	}
	if o.Target == TargetRqlite && o.Mix.total() != o.Mix[OpSQLIncrement] {
		errs = append(errs, errors.New("target rqlite: sql_increment is its one op"))
	}
	if o.Target == TargetApp && o.Mix.total() != o.Mix[OpWorkerIncrement] {
		errs = append(errs, errors.New("the app target serves worker_increment only"))
	}
	return errors.Join(errs...)
}

// Run drives the load until Warmup+Duration has passed or ctx is done, and
// returns what it measured. It fails only on bad options.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	tgt, err := newTarget(o)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	urls := make([]string, len(o.URLs))
	for i, u := range o.URLs {
		urls[i] = strings.TrimRight(u, "/")
	}
	hc := newHTTPClient(o.Clients, o.Timeout, o.Token, o.TLS)
	defer hc.close()
	if err := setup(ctx, o, hc, urls[0]); err != nil {
		return nil, err
	}
	l := &load{o: o, tgt: tgt, hc: hc, urls: urls}
	for i := range l.recs {
		l.recs[i] = newRecorder()
	}
	elapsed := l.run(ctx, time.Now())
	return l.result(elapsed), nil
}

// setup deploys, through base, what the mix's ops call (the bench
// class, the Worker project, the SQL project) or makes rqlite's table.
func setup(ctx context.Context, o Options, hc *httpClient, base string) error {
	c := client.New(base, client.WithToken(o.Token), client.WithTLSConfig(o.TLS))
	if o.Mix[OpClassIncrement] > 0 {
		if o.Target == TargetEtcd {
			return errors.New("bench: class_increment is an op of dobj only")
		}
		if err := deployBenchClass(ctx, hc, base); err != nil {
			return err
		}
	}
	if o.Mix[OpWorkerIncrement] > 0 && o.Target != TargetApp || o.Mix[OpRPCIncrement] > 0 {
		if err := deployBenchWorker(ctx, c, o.WorkerStorage); err != nil {
			return err
		}
	}
	if o.Target == TargetRqlite {
		return setupRqlite(ctx, hc, base, o.Objects)
	}
	if o.Mix[OpSQLIncrement] > 0 || o.Mix[OpSQLFill] > 0 {
		if o.Target == TargetEtcd {
			return errors.New("bench: sql_increment and sql_fill are ops of dobj (and sql_increment of rqlite) only")
		}
		return deployBenchSQL(ctx, c)
	}
	return nil
}

// load is one run's clients and what they measure.
type load struct {
	o    Options
	tgt  target
	hc   *httpClient
	urls []string

	// The clients start at start, measure from measureStart (after the
	// warmup) and stop at end.
	start, measureStart, end time.Time

	recs          [numOps]*recorder
	ops, errCount atomic.Int64 // measured so far, for the progress line
}

// run drives o.Clients clients from start until the end of the window or
// ctx is done, with the progress line if asked, and returns how long it
// measured.
func (l *load) run(ctx context.Context, start time.Time) time.Duration {
	l.start = start
	l.measureStart = start.Add(l.o.Warmup)
	l.end = l.measureStart.Add(l.o.Duration)
	seed := uint64(start.UnixNano())

	var wg sync.WaitGroup
	for i := range l.o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.client(ctx, i, rand.New(rand.NewPCG(seed, uint64(i))))
		}()
	}
	done := make(chan struct{})
	var progressDone sync.WaitGroup
	if l.o.Progress != nil {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			progress(l.o.Progress, done, l.start, l.measureStart, l.o.Warmup, &l.ops, &l.errCount)
		}()
	}
	wg.Wait()
	stopped := time.Now()
	close(done)
	progressDone.Wait()
	if stopped.After(l.end) {
		stopped = l.end
	}
	return max(stopped.Sub(l.measureStart), 0)
}

// client is client i's closed loop: one op at a time, picked by the mix,
// on one of the URLs, recorded once the warmup is over.
func (l *load) client(ctx context.Context, i int, rng *rand.Rand) {
	base := l.urls[i%len(l.urls)]
	workerBase := base
	if len(l.o.WorkerURLs) > 0 {
		workerBase = strings.TrimRight(l.o.WorkerURLs[i%len(l.o.WorkerURLs)], "/")
	}
	total := l.o.Mix.total()
	for seq := uint64(1); ; seq++ {
		t0 := time.Now()
		if !t0.Before(l.end) || ctx.Err() != nil {
			return
		}
		op := l.o.Mix.pick(rng.IntN(total))
		b := base
		if op == OpWorkerIncrement {
			b = workerBase
		}
		err := l.tgt.send(l.hc, b, op, rng.IntN(l.o.Objects), seq)
		d := time.Since(t0)
		if ctx.Err() != nil {
			return // interrupted: this op's outcome is not the server's
		}
		if t0.Before(l.measureStart) {
			continue
		}
		l.ops.Add(1)
		if err != nil {
			l.errCount.Add(1)
			l.recs[op].failure(errorClass(err))
		} else {
			l.recs[op].success(d)
		}
	}
}

// result sums up what the clients recorded over elapsed, per op of the
// mix and overall.
func (l *load) result(elapsed time.Duration) *Result {
	o := l.o
	res := &Result{
		Target:         o.Target,
		URLs:           l.urls,
		Clients:        o.Clients,
		Objects:        o.Objects,
		Prefix:         o.Prefix,
		Mix:            o.Mix.String(),
		WarmupSec:      o.Warmup.Seconds(),
		DurationSec:    elapsed.Seconds(),
		ByOp:           map[string]Stats{},
		ErrorsByStatus: map[string]int64{},
	}
	if res.Target == "" {
		res.Target = TargetDobj
	}
	all := newRecorder()
	for i, r := range l.recs {
		if o.Mix[i] == 0 {
			continue
		}
		res.ByOp[Op(i).String()] = r.stats(elapsed)
		all.merge(r)
	}
	res.Overall = all.stats(elapsed)
	for s, n := range all.byStatus {
		res.ErrorsByStatus[s] = n
	}
	return res
}

// progress prints one line a second until done is closed: during the
// warmup how far it is, then the measured ops so far, the rate over the
// whole window and over the last second, and the errors.
func progress(w io.Writer, done <-chan struct{}, start, measureStart time.Time, warmup time.Duration, ops, errs *atomic.Int64) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastOps int64
	lastAt := measureStart
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if now.Before(measureStart) {
				fmt.Fprintf(w, "warmup %4.1fs/%v\n", now.Sub(start).Seconds(), warmup)
				continue
			}
			sec := now.Sub(measureStart).Seconds()
			if sec < 0.1 {
				continue // the warmup just ended: nothing measured yet
			}
			n, e := ops.Load(), errs.Load()
			rate := 0.0
			if sec > 0 {
				rate = float64(n) / sec
			}
			recent := 0.0
			if d := now.Sub(lastAt).Seconds(); d > 0 {
				recent = float64(n-lastOps) / d
			}
			fmt.Fprintf(w, "%5.1fs  %9d ops  %9.0f ops/s  (last 1s: %6.0f/s)  errors %d\n", sec, n, rate, recent, e)
			lastOps, lastAt = n, now
		}
	}
}
