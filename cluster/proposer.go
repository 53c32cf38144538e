package cluster

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// Group commit: at most one Raft entry is in flight; commands that arrive
// meanwhile queue and go into the next entry together, up to
// maxBatchCount commands or maxBatchBytes. One entry in flight gave the
// most writes per second (fewer, fuller entries cost Raft and the log
// less: fsyncs, and CPU a write), and one writer alone waits no longer
// either way.
//
// Gathering: a client answered by an entry usually writes again at once,
// but its answer and its next request take about as long as an entry on
// a busy machine, so with one entry in flight the clients split into two
// halves that take turns. When an entry of several commands comes back,
// the next one therefore waits for those writers: until as many commands
// are queued as that entry carried plus those queued already, until none
// has arrived for half the time that entry took, or until that time (at
// most maxGather) has passed. An entry of one command never makes the
// next one wait, so a lone writer pays nothing. bench/README.md has the
// figures that chose these.
const (
	maxBatchCount = 512
	maxBatchBytes = 1 << 20
	maxGather     = 2 * time.Millisecond
)

// proposal is one encoded command on its way to the log.
type proposal struct {
	data []byte
	// deliver gets the outcome, exactly once, from the goroutine that
	// waited for the entry; it must not block.
	deliver func(proposed)
}

type proposed struct {
	resp  interface{}
	index uint64
	err   error
}

// proposer turns proposals into Raft entries. It has no goroutine of its
// own while idle: the first proposal submits its entry at once from the
// caller's goroutine, and the goroutine that waits for an entry gathers
// and submits the next one.
type proposer struct {
	apply func(data []byte) raft.ApplyFuture
	// gatherFor says how long the next entry may gather after an entry
	// that took took; nil gathers nothing.
	gatherFor func(took time.Duration) time.Duration
	// observe, if set, hears of each entry: its commands, how long it
	// took to commit and apply, and its error.
	observe func(commands int, took time.Duration, err error)
	waiters sync.WaitGroup // the goroutines waiting for entries

	mu       sync.Mutex // guards the fields below
	queue    []*proposal
	inflight bool
	closed   bool
	// While the next entry gathers: full is closed once the queue holds
	// want proposals, and last is when the latest one came.
	full chan struct{}
	want int
	last time.Time
}

// submit queues p for the next entry; an error means it was not queued.
func (pr *proposer) submit(p *proposal) error {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return fmt.Errorf("%w: node is shutting down", ErrNotApplied)
	}
	pr.queue = append(pr.queue, p)
	if pr.full != nil {
		pr.last = time.Now()
		if len(pr.queue) >= pr.want {
			pr.endGathering()
		}
	}
	if pr.inflight {
		pr.mu.Unlock()
		return nil
	}
	pr.inflight = true
	batch := pr.take()
	pr.waiters.Add(1)
	pr.mu.Unlock()
	// Raft gets the entry from this goroutine; another waits for it.
	started := time.Now()
	go pr.run(pr.start(batch), batch, started)
	return nil
}

// withdraw takes p back if it is still queued, so never proposed.
func (pr *proposer) withdraw(p *proposal) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	i := slices.Index(pr.queue, p)
	if i >= 0 {
		pr.queue = slices.Delete(pr.queue, i, i+1)
	}
	return i >= 0
}

// take removes the next entry's proposals from the queue; mu is held.
func (pr *proposer) take() []*proposal {
	n, size := 0, 0
	for n < len(pr.queue) && n < maxBatchCount {
		if n > 0 && size+len(pr.queue[n].data) > maxBatchBytes {
			break
		}
		size += len(pr.queue[n].data)
		n++
	}
	batch := pr.queue[:n:n]
	pr.queue = pr.queue[n:]
	if len(pr.queue) == 0 {
		pr.queue = nil // let the backing array go
	}
	return batch
}

// run waits for the entry f of batch, started at started, delivers the
// outcomes and goes on with the next batch until the queue is empty.
func (pr *proposer) run(f raft.ApplyFuture, batch []*proposal, started time.Time) {
	defer pr.waiters.Done()
	for {
		finish(f, batch)
		took := time.Since(started)
		if pr.observe != nil {
			pr.observe(len(batch), took, f.Error())
		}
		pr.mu.Lock()
		if len(batch) > 1 && !pr.closed && pr.gatherFor != nil {
			pr.gather(min(len(batch)+len(pr.queue), maxBatchCount), pr.gatherFor(took))
		}
		if len(pr.queue) == 0 || pr.closed {
			pr.inflight = false
			pr.mu.Unlock()
			return
		}
		batch = pr.take()
		pr.mu.Unlock()
		started = time.Now()
		f = pr.start(batch)
	}
}

// gather waits until want proposals are queued, none has come for half
// of limit, or limit has passed. mu is held on entry and on return, and
// released while waiting.
func (pr *proposer) gather(want int, limit time.Duration) {
	if len(pr.queue) >= want || limit <= 0 {
		return
	}
	full := make(chan struct{})
	begun := time.Now()
	pr.full, pr.want, pr.last = full, want, begun
	pr.mu.Unlock()
	quiet := limit / 2
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for {
		select {
		case <-full:
			pr.mu.Lock()
			return
		case <-timer.C:
		}
		pr.mu.Lock()
		now := time.Now()
		wake := pr.last.Add(quiet)
		if end := begun.Add(limit); end.Before(wake) {
			wake = end
		}
		if !now.Before(wake) {
			pr.full = nil // only this goroutine gathers; nil if submit or close ended it
			return
		}
		pr.mu.Unlock()
		timer.Reset(wake.Sub(now))
	}
}

// endGathering lets the gathering entry go; mu is held.
func (pr *proposer) endGathering() {
	close(pr.full)
	pr.full = nil
}

// start hands batch to Raft as one entry.
func (pr *proposer) start(batch []*proposal) raft.ApplyFuture {
	data := batch[0].data
	if len(batch) > 1 {
		subs := make([][]byte, len(batch))
		for i, p := range batch {
			subs[i] = p.data
		}
		var err error
		if data, err = fsm.Encode(&fsm.Command{Kind: fsm.KindBatch, Batch: subs}); err != nil {
			panic(fmt.Sprintf("cluster: encode batch: %v", err)) // byte slices always encode
		}
	}
	return pr.apply(data)
}

// finish waits for f and delivers each proposal's outcome.
func finish(f raft.ApplyFuture, batch []*proposal) {
	if err := f.Error(); err != nil {
		err = mapRaftError(err)
		for _, p := range batch {
			p.deliver(proposed{err: err})
		}
		return
	}
	resp, index := f.Response(), f.Index()
	if len(batch) == 1 {
		batch[0].deliver(proposed{resp: resp, index: index})
		return
	}
	for i, p := range batch {
		p.deliver(proposed{resp: resp.(*fsm.BatchResponse).Responses[i], index: index})
	}
}

// close fails the queued proposals (never proposed) and waits for the
// entries in flight, which Raft's shutdown ends.
func (pr *proposer) close() {
	pr.mu.Lock()
	pr.closed = true
	queued := pr.queue
	pr.queue = nil
	if pr.full != nil {
		pr.endGathering()
	}
	pr.mu.Unlock()
	for _, p := range queued {
		p.deliver(proposed{err: fmt.Errorf("%w: node is shutting down", ErrNotApplied)})
	}
}

// wait returns once no entry is in flight any more, or after d: Raft
// fails the futures of entries in flight when it shuts down, but not
// always when it stopped itself (a leader removed from the cluster).
func (pr *proposer) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		pr.waiters.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
