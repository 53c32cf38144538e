package classes

import (
	"context"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// Asynchronous I/O of a call (issue 20): what a call awaits that Go does
// in the background — a stub's RPC or fetch to an object, a service
// binding's call — is started with startIO; the goroutine doing it hands
// back a completion, which the call's event loop (instance.settle) runs
// on the runtime, in its turn, to settle the promise JavaScript awaits.
// While a call waits for I/O and no timer is due, it gives up its
// runtime's turn, as it does for a timer.

// ioQueue is a call's I/O in flight and the completions that came back.
type ioQueue struct {
	pending int // started and not yet run; the turn guards it
	// queued are works not yet started: a reentrant class's call
	// (reentry.go) that cannot commit its writes so far where it makes
	// the call (a fetch, or within transaction()) queues them, and they
	// leave (launch) once those writes are committed — at its next wait
	// for I/O, or after its final commit.
	queued []func()
	mu     sync.Mutex
	ready  []func() error
	signal chan struct{} // one token when ready is not empty
}

// startIO runs work in a goroutine; the completion it returns runs on
// the runtime within the call's event loop; an error it returns (a
// JavaScript callback's) fails the call. A call that ends first drops
// the completion.
//
// The work leaves at once, awaited or not, as on Cloudflare: a
// reentrant class's RPC first commits its writes so far (commitSoFar),
// so that nothing leaves before the writes it follows are durable; one
// that cannot commit here queues it (ioQueue.queued). The work's context
// is the call's without its cancellation (its deadline stays): a call
// that returns without awaiting it does not stop it.
func (c *call) startIO(work func(ctx context.Context) func() error) {
	if c.io.signal == nil {
		c.io.signal = make(chan struct{}, 1)
	}
	c.io.pending++
	q := &c.io
	run := func() {
		ctx := context.WithoutCancel(c.ctx)
		if d, ok := c.ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d)
			defer cancel()
		}
		done := work(ctx)
		q.mu.Lock()
		q.ready = append(q.ready, done)
		q.mu.Unlock()
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	switch {
	case c.reentry == nil: // nothing to commit first (a Worker's call)
		go run()
	case c.canLend():
		if err := c.commitSoFar(); err != nil {
			// The call fails with the commit's error as soon as its
			// JavaScript runs on; the work never leaves.
			c.interrupt(err)
			return
		}
		go run()
	default:
		q.queued = append(q.queued, run)
	}
}

// commitSoFar commits the writes the call made so far as one Effects:
// where a reentrant call lends its gate (reentry.go) and where a call
// out leaves. A SQLite-backed object's writes are in its session, not in
// the Effects, so its commit runs even with empty Effects and hands the
// session over.
func (c *call) commitSoFar() error {
	eff := c.ov.effects()
	if eff.Empty() && !c.sqlBacked() {
		return nil
	}
	if err := c.reentry.commit(eff); err != nil {
		return err
	}
	c.ov = overlay{}
	return nil
}

// launch starts the queued works.
func (q *ioQueue) launch() {
	for _, w := range q.queued {
		go w()
	}
	q.queued = nil
}

// takeReady returns the completions that came back.
func (q *ioQueue) takeReady() []func() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ready
	q.ready = nil
	return out
}

// nextTimerAt is when the call's next timer is due; ok is false when it
// has none.
func (c *call) nextTimerAt() (at time.Time, ok bool) {
	for i, t := range c.timers {
		if i == 0 || t.when.Before(at) {
			at = t.when
		}
	}
	return at, len(c.timers) > 0
}

// awaitIO runs the completions of I/O that came back; with none, it
// waits, with the runtime's turn given up, for one to come back, until
// the next timer is due or the call's context ends. It reports whether
// it ran any (false: a timer is due).
func (in *instance) awaitIO() (bool, error) {
	c := in.call
	c.io.launch()
	for {
		if ready := c.io.takeReady(); len(ready) > 0 {
			for _, done := range ready {
				c.io.pending--
				if _, err := in.run(func() (goja.Value, error) { return nil, done() }); err != nil {
					return true, err
				}
			}
			return true, nil
		}
		var timeout <-chan time.Time
		if at, ok := c.nextTimerAt(); ok {
			d := time.Until(at)
			if d <= 0 {
				return false, nil
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		woke := false
		if err := in.outside(func() error {
			select {
			case <-c.io.signal:
				woke = true
			case <-timeout:
			case <-c.ctx.Done():
				return c.ctx.Err()
			}
			return nil
		}); err != nil {
			return false, err
		}
		if !woke {
			return false, nil
		}
	}
}
