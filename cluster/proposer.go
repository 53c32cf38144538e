package cluster

import (
	"fmt"
	"slices"
	"sync"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// Group commit: at most one Raft entry is in flight; commands that arrive
// meanwhile queue and go into the next entry together, up to
// maxBatchCount commands or maxBatchBytes. One entry in flight gave the
// most writes per second here (64 clients: 13.5-14k/s against 12-12.3k/s
// with two and 9.3-11k/s with three): fewer, fuller entries cost Raft and
// bolt less (six fsyncs an entry over the three nodes), and one writer
// alone waits no longer either way.
const (
	maxBatchCount = 512
	maxBatchBytes = 1 << 20
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
// caller's goroutine, and the goroutine that waits for an entry submits
// the next one with whatever queued up meanwhile.
type proposer struct {
	apply   func(data []byte) raft.ApplyFuture
	waiters sync.WaitGroup // the goroutines waiting for entries

	mu       sync.Mutex // guards the fields below
	queue    []*proposal
	inflight bool
	closed   bool
}

// submit queues p for the next entry; an error means it was not queued.
func (pr *proposer) submit(p *proposal) error {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return fmt.Errorf("%w: node is shutting down", ErrNotApplied)
	}
	pr.queue = append(pr.queue, p)
	if pr.inflight {
		pr.mu.Unlock()
		return nil
	}
	pr.inflight = true
	batch := pr.take()
	pr.waiters.Add(1)
	pr.mu.Unlock()
	// Raft gets the entry from this goroutine; another waits for it.
	go pr.run(pr.start(batch), batch)
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

// run waits for the entry f of batch, delivers the outcomes and goes on
// with the next batch until the queue is empty.
func (pr *proposer) run(f raft.ApplyFuture, batch []*proposal) {
	defer pr.waiters.Done()
	for {
		finish(f, batch)
		pr.mu.Lock()
		if len(pr.queue) == 0 || pr.closed {
			pr.inflight = false
			pr.mu.Unlock()
			return
		}
		batch = pr.take()
		pr.mu.Unlock()
		f = pr.start(batch)
	}
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
	pr.mu.Unlock()
	for _, p := range queued {
		p.deliver(proposed{err: fmt.Errorf("%w: node is shutting down", ErrNotApplied)})
	}
}

// wait returns once no entry is in flight any more.
func (pr *proposer) wait() { pr.waiters.Wait() }
