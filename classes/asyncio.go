package classes

import (
	"github.com/dop251/goja"
	"sync"
	"time"
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
	// queued are works not yet started by a call that may lend its
	// gate (reentry.go): the event loop starts them (launch) once the
	// call's writes so far are committed, so none leaves before them.
	// Other calls (a Worker's) start them at once.
	queued []func()
	mu     sync.Mutex
	ready  []func() error
	signal chan struct{} // one token when ready is not empty
}

// startIO runs work in a goroutine; the completion it returns runs on
// the runtime within the call's event loop; an error it returns (a
// JavaScript callback's) fails the call. A call that ends first drops
// the completion.
func (c *call) startIO(work func() func() error) {
	if c.io.signal == nil {
		c.io.signal = make(chan struct{}, 1)
	}
	c.io.pending++
	q := &c.io
	run := func() {
		done := work()
		q.mu.Lock()
		q.ready = append(q.ready, done)
		q.mu.Unlock()
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	if c.reentry == nil {
		go run() // nothing to commit first: it leaves now, awaited or not
		return
	}
	q.queued = append(q.queued, run)
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
