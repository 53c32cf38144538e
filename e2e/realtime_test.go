package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// others is every running node but nd.
func (c *testCluster) others(nd *node) []*node {
	var out []*node
	for _, o := range c.nodes {
		if o != nd && o.running() {
			out = append(out, o)
		}
	}
	return out
}

// localIndex reads name on nd's own state and returns the index it saw:
// a watch from there misses nothing and repeats nothing.
func (c *testCluster) localIndex(nd *node, name string) uint64 {
	c.t.Helper()
	r := c.do(http.MethodGet, nd.url()+"/"+name+"?consistency=stale", nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("read %s on %s: %s", name, nd.id, r)
	}
	index, err := strconv.ParseUint(r.header.Get("X-Dobj-Index"), 10, 64)
	if err != nil || index == 0 {
		c.t.Fatalf("read %s on %s: X-Dobj-Index %q", name, nd.id, r.header.Get("X-Dobj-Index"))
	}
	return index
}

// acked is what the writers were told: how many increments each log
// index carried (a group-committed entry carries several).
type acked struct {
	mu      sync.Mutex
	byIndex map[uint64]int64
	total   atomic.Int64
}

func (a *acked) add(index uint64) {
	a.mu.Lock()
	a.byIndex[index]++
	a.mu.Unlock()
	a.total.Add(1)
}

// checkEvents checks a counter's watch events against the increments
// acknowledged: one event per index that carried any, in increasing
// order, each with the value the increments up to its index add up to.
func checkEvents(t *testing.T, events []client.WatchEvent, a *acked) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var indexes []uint64
	for i := range a.byIndex {
		indexes = append(indexes, i)
	}
	sort.Slice(indexes, func(i, j int) bool { return indexes[i] < indexes[j] })
	if len(events) != len(indexes) {
		t.Fatalf("%d events for %d acknowledged indexes", len(events), len(indexes))
	}
	var sum int64
	for i, e := range events {
		if e.Index != indexes[i] {
			t.Fatalf("event %d has index %d, want %d (events must come once each, in order)", i, e.Index, indexes[i])
		}
		sum += a.byIndex[e.Index]
		if len(e.Changes) != 1 || e.Changes[0].Key != "value" || string(e.Changes[0].Value) != strconv.FormatInt(sum, 10) {
			t.Fatalf("event at index %d = %+v, want value %d", e.Index, e.Changes, sum)
		}
	}
}

// collect gathers watch events until the last one's value is want.
type collector struct {
	mu     sync.Mutex
	events []client.WatchEvent
	last   string
}

func (col *collector) add(e client.WatchEvent) error {
	col.mu.Lock()
	defer col.mu.Unlock()
	col.events = append(col.events, e)
	for _, ch := range e.Changes {
		if ch.Key == "value" {
			col.last = string(ch.Value)
		}
	}
	return nil
}

func (col *collector) waitValue(t *testing.T, want int64) []client.WatchEvent {
	t.Helper()
	eventually(t, 30*time.Second, "the watcher to see value "+strconv.FormatInt(want, 10), func() error {
		col.mu.Lock()
		defer col.mu.Unlock()
		if col.last != strconv.FormatInt(want, 10) {
			return fmt.Errorf("last value seen %q after %d events", col.last, len(col.events))
		}
		return nil
	})
	col.mu.Lock()
	defer col.mu.Unlock()
	return append([]client.WatchEvent(nil), col.events...)
}

// TestWatchOnFollowerSeesEveryIndexOnce: 1,000 increments sent to every
// node while a watcher reads a follower's stream: every index that
// carried an increment arrives once, in order, with the right value.
func TestWatchOnFollowerSeesEveryIndexOnce(t *testing.T) {
	c := newCluster(t, 3)
	c.start()
	follower := c.others(c.leader())[0]
	const name = "watched-1"
	since := c.localIndex(follower, name)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := &collector{}
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- client.New(follower.url()).Watch(ctx, name, client.WatchOptions{Since: since}, col.add)
	}()

	const total, workers = 1000, 16
	a := &acked{byIndex: map[uint64]int64{}}
	var wg sync.WaitGroup
	var failed atomic.Value
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := c.increment(c.nodes[i%len(c.nodes)].url(), name, nil)
				index, err := strconv.ParseUint(r.header.Get("X-Dobj-Index"), 10, 64)
				if r.status != http.StatusOK || err != nil {
					failed.CompareAndSwap(nil, r.String())
					continue
				}
				a.add(index)
			}
		}()
	}
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("an increment failed on a healthy cluster: %v", f)
	}
	events := col.waitValue(t, total)
	cancel()
	if err := <-watchDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v", err)
	}
	checkEvents(t, events, a)
	t.Logf("%d increments in %d events (indexes) on follower %s", total, len(events), follower.id)
}

// TestWatchResumesAcrossLeaderKill: a watcher on the leader loses its
// stream when the leader is SIGKILLed, resumes on another node with
// Last-Event-ID, and misses nothing of what was acknowledged.
func TestWatchResumesAcrossLeaderKill(t *testing.T) {
	c := newCluster(t, 3)
	c.start()
	leader := c.leader()
	followers := c.others(leader)
	const name = "watched-2"
	since := c.localIndex(leader, name)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := &collector{}
	var reconnects atomic.Int64
	go client.New(leader.url()).Watch(ctx, name, client.WatchOptions{
		Since:       since,
		Fallbacks:   []string{followers[0].url(), followers[1].url()},
		OnReconnect: func(string, uint64, error) { reconnects.Add(1) },
	}, col.add)

	// Writers go through the followers and retry each increment with its
	// Idempotency-Key until it is acknowledged, so every increment
	// applied has exactly one index, known to the test.
	a := &acked{byIndex: map[uint64]int64{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, seq.Add(1))
				for {
					r := c.increment(followers[w%2].url(), name, map[string]string{"Idempotency-Key": key})
					if r.status == http.StatusOK {
						index, _ := strconv.ParseUint(r.header.Get("X-Dobj-Index"), 10, 64)
						a.add(index)
						break
					}
					if r.status != 0 && r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout {
						t.Errorf("increment: %s", r)
						return
					}
					time.Sleep(50 * time.Millisecond) // retry pace while there is no leader
				}
			}
		}(w)
	}
	eventually(t, 30*time.Second, "200 increments before the kill", func() error {
		if n := a.total.Load(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	c.kill(leader)
	eventually(t, 60*time.Second, "200 more increments after the kill", func() error {
		if n := a.total.Load(); n < 400 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	events := col.waitValue(t, a.total.Load())
	checkEvents(t, events, a)
	if reconnects.Load() == 0 {
		t.Fatal("the watcher never lost its stream, though its node was killed")
	}
	t.Logf("%d increments in %d events; the watcher reconnected %d times", a.total.Load(), len(events), reconnects.Load())
}

// sseEvent is one event of a raw stream.
type sseEvent struct{ id, event, data string }

// openStream GETs a watch and returns the answer's status, and for a 200,
// a channel of its events (closed when the stream ends).
func openStream(t *testing.T, ctx context.Context, url string, header map[string]string) (int, []byte, <-chan sseEvent) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		return resp.StatusCode, []byte(b.String()), nil
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if e.event != "" {
					ch <- e
				}
				e = sseEvent{}
				continue
			}
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "id":
				e.id = value
			case "event":
				e.event = value
			case "data":
				e.data = value
			}
		}
	}()
	return resp.StatusCode, nil, ch
}

func nextEvent(t *testing.T, ch <-chan sseEvent, within time.Duration) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return sseEvent{}
}

// scrape reads a node's /metrics with Prometheus' own parser.
func (c *testCluster) scrape(nd *node) map[string]*model.Sample {
	c.t.Helper()
	r := c.do(http.MethodGet, nd.url()+"/metrics", nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET /metrics on %s: %s", nd.id, r)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		c.t.Fatalf("/metrics does not parse: %v", err)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mapValues(families)...)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]*model.Sample{}
	for _, s := range vec {
		out[s.Metric.String()] = s
	}
	return out
}

func metricValue(samples map[string]*model.Sample, series string) float64 {
	if s, ok := samples[series]; ok {
		return float64(s.Value)
	}
	return 0
}

// TestWatchGoneMetricsAndLostLeader: a resume older than the history is
// 410 with the oldest index it can resume from, and that one works; the
// metrics parse and move with traffic; a node that loses its leader cuts
// its watches and refuses new ones.
func TestWatchGoneMetricsAndLostLeader(t *testing.T) {
	c := newCluster(t, 3, "--watch-history", "50", "--snapshot-threshold", "64", "--snapshot-interval", "200ms", "--trailing-logs", "16")
	c.start()
	leader := c.leader()
	follower := c.others(leader)[0]
	const name = "watched-3"
	reqSeries := `dobj_http_requests_total{code="200", method="POST", route="/:name/increment"}`
	before := c.scrape(leader)
	for i := 0; i < 120; i++ {
		if r := c.increment(leader.url(), name, nil); r.status != http.StatusOK {
			t.Fatalf("increment: %s", r)
		}
	}
	after := c.scrape(leader)
	if d := metricValue(after, reqSeries) - metricValue(before, reqSeries); d != 120 {
		t.Errorf("%s moved by %v, want 120", reqSeries, d)
	}
	for _, series := range []string{"dobj_raft_proposals_total", "dobj_raft_batch_commands_count", "dobj_fsm_apply_duration_seconds_count", "dobj_raft_commit_duration_seconds_count"} {
		if metricValue(after, series) < metricValue(before, series)+1 {
			t.Errorf("%s did not move with 120 writes: %v -> %v", series, metricValue(before, series), metricValue(after, series))
		}
	}
	if metricValue(after, "dobj_raft_leader_changes_total") < 1 {
		t.Errorf("leader changes = %v, want at least the first election", metricValue(after, "dobj_raft_leader_changes_total"))
	}
	eventually(t, 20*time.Second, "a snapshot counted after 120 writes with --snapshot-threshold 64", func() error {
		s := c.scrape(leader)
		if n := metricValue(s, `dobj_fsm_snapshots_total{result="ok"}`); n < 1 {
			return fmt.Errorf("dobj_fsm_snapshots_total = %v", n)
		}
		if n := metricValue(s, "dobj_fsm_snapshot_duration_seconds_count"); n < 1 {
			return fmt.Errorf("dobj_fsm_snapshot_duration_seconds_count = %v", n)
		}
		return nil
	})

	// The CLI follows the same stream and lists the object.
	out, stderr, code := dobj(t, follower.url(), "objects", "--prefix", "watched-")
	if code != 0 || !strings.Contains(out, `"name": "watched-3"`) || !strings.Contains(out, `"keys": 1`) {
		t.Fatalf("dobj objects: exit %d, %s %s", code, out, stderr)
	}
	wctx, stopWatch := context.WithTimeout(context.Background(), 20*time.Second)
	defer stopWatch()
	// A linearizable read on the follower: it has applied every increment.
	r := c.do(http.MethodGet, follower.url()+"/"+name, nil, nil)
	from, err := strconv.ParseUint(r.header.Get("X-Dobj-Index"), 10, 64)
	if r.status != http.StatusOK || err != nil {
		t.Fatalf("read on %s: %s", follower.id, r)
	}
	cli := exec.CommandContext(wctx, bin, "watch", name, "--url", follower.url(), "--since", strconv.FormatUint(from, 10))
	stdout, err := cli.StdoutPipe()

	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	eventually(t, 10*time.Second, "dobj watch to see an increment", func() error {
		if r := c.increment(leader.url(), name, nil); r.status != http.StatusOK {
			return fmt.Errorf("increment: %s", r)
		}
		return nil
	})
	if !lines.Scan() || !strings.Contains(lines.Text(), `"object":"watched-3"`) || !strings.Contains(lines.Text(), `"value":121`) {
		t.Fatalf("dobj watch printed %q, want the change to 121", lines.Text())
	}
	stopWatch()
	cli.Wait()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status, body, _ := openStream(t, ctx, follower.url()+"/"+name+"/watch?since=1", nil)
	var gone struct {
		Type        string `json:"type"`
		Status      int    `json:"status"`
		OldestIndex uint64 `json:"oldest_index"`
	}
	if status != http.StatusGone || json.Unmarshal(body, &gone) != nil || gone.Type != "gone" || gone.OldestIndex <= 1 {
		t.Fatalf("resume after index 1 past a 50-change history = %d %s, want 410 gone with oldest_index", status, body)
	}
	// From oldest_index on it resumes, with exactly the later changes.
	status, body, events := openStream(t, ctx, follower.url()+"/"+name+"/watch", map[string]string{"Last-Event-ID": strconv.FormatUint(gone.OldestIndex, 10)})
	if status != http.StatusOK {
		t.Fatalf("resume at oldest_index %d = %d %s", gone.OldestIndex, status, body)
	}
	if e := nextEvent(t, events, 5*time.Second); e.event != "ready" || e.id != strconv.FormatUint(gone.OldestIndex, 10) {
		t.Fatalf("first event %+v, want ready with id %d", e, gone.OldestIndex)
	}
	if e := nextEvent(t, events, 5*time.Second); e.event != "change" {
		t.Fatalf("second event %+v, want a change", e)
	} else if id, err := strconv.ParseUint(e.id, 10, 64); err != nil || id <= gone.OldestIndex {
		t.Fatalf("first change has id %q, want one after %d", e.id, gone.OldestIndex)
	}
	samples := c.scrape(follower)
	if v := metricValue(samples, "dobj_watches_open"); v != 1 {
		t.Errorf("dobj_watches_open on %s = %v with one stream open", follower.id, v)
	}

	// The follower loses its leader and the other node: it says so.
	for _, nd := range c.others(follower) {
		c.kill(nd)
	}
	deadline := time.After(20 * time.Second)
	for {
		var e sseEvent
		var ok bool
		select {
		case e, ok = <-events:
		case <-deadline:
			t.Fatal("the watch neither ended nor said why within 20s of losing the leader")
		}
		if !ok {
			t.Fatal("the stream ended without a cut event")
		}
		if e.event == "cut" {
			if !strings.Contains(e.data, `"reason":"no-leader"`) {
				t.Fatalf("cut event %s, want reason no-leader", e.data)
			}
			break
		}
	}
	eventually(t, 10*time.Second, "new watches refused without a leader", func() error {
		if status, body, _ := openStream(t, ctx, follower.url()+"/"+name+"/watch", nil); status != http.StatusServiceUnavailable {
			return fmt.Errorf("watch = %d %s, want 503", status, body)
		}
		return nil
	})
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
