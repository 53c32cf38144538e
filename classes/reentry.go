package classes

import (
	"context"
	"errors"
	"time"
)

// Reentrancy (issue 20): Cloudflare's input gate lets other requests to
// an object run while one awaits something other than its own storage.
// An RPC of a class whose ClassRef is Reentrant (a script's) does the
// same. Where it makes a call out (another object's RPC or fetch, a
// service's, a global fetch), awaited or not, it commits its writes so
// far, with its runtime's turn held, and the call leaves at once
// (asyncio.go: as on Cloudflare, where a call out waits only for the
// output gate, not for the caller's next await). Then, at two points of
// its event loop (instance.settle):
//
//   - before it waits for outbound I/O (another object's RPC or fetch),
//     and
//   - when it awaits a promise nothing of its own can settle (no I/O, no
//     timer): one only another request to the object can resolve,
//
// it commits the writes it made so far as one Effects (one Raft command:
// so nothing it sends out leaves before the writes it follows are
// durable), opens the object's gate to the calls queued behind it on the
// same instance, and takes the gate back, in arrival order, once its I/O
// is back (or, for a promise, once another call has run). It then goes
// on with fresh reads. Not while a transaction callback is open: that
// call keeps the gate. If a call that ran meanwhile failed (dropping the
// instance) the lender fails too: its memory may be ahead of storage.

// errReset: the instance was dropped while a call had lent its gate.
var errReset = errors.New("the object was reset while the call awaited another")

// reentry is what a call needs to lend its object's gate.
type reentry struct {
	slots  *slots
	s      **slot // the run's slot variable, which release reads
	key    slotKey
	commit func(Effects) error // the call's commit, for its writes so far
	// lost: the call could not take the gate back (its context ended):
	// it holds neither the gate nor the instance, and leaves the slot
	// without releasing them (Engine.run).
	lost bool
}

// canLend reports whether the call may open its gate now.
func (c *call) canLend() bool {
	return c.reentry != nil && c.reentry.commit != nil && len(c.saves) == 0
}

// lendWhile commits the call's writes so far, opens the gate, runs wait
// (with the runtime's turn given up) and takes the gate back; then the
// call goes on on the instance. untilRan: take it back only after
// another call has run on the object.
func (in *instance) lendWhile(untilRan bool, wait func() error) error {
	c := in.call
	r := c.reentry
	var waitErr error
	err := in.outside(func() error {
		if err := c.commitSoFar(); err != nil {
			return err
		}
		ran := r.slots.lend(*r.s, in)
		waitErr = wait()
		if untilRan && waitErr == nil {
			select {
			case <-ran:
			case <-c.ctx.Done():
				waitErr = c.ctx.Err()
			}
		}
		s, got, err := r.slots.reclaim(c.ctx, r.key, *r.s)
		if err != nil {
			r.lost = true
			return err
		}
		*r.s = s
		if got != in {
			return errReset
		}
		return nil
	})
	if r.lost {
		return err
	}
	in.begin(c) // the calls that ran meanwhile ended theirs
	if err != nil {
		return err
	}
	return waitErr
}

// awaitIOLent is awaitIO for a call that may lend its gate: it waits for
// I/O or the next timer with the gate open.
func (in *instance) awaitIOLent() (bool, error) {
	c := in.call
	if ready := c.io.takeReady(); len(ready) > 0 || !c.canLend() {
		c.io.pushBack(ready)
		return in.awaitIO()
	}
	err := in.lendWhile(false, func() error {
		c.io.launch() // after the commit: nothing leaves before it
		var timeout <-chan time.Time
		if at, ok := c.nextTimerAt(); ok {
			t := time.NewTimer(time.Until(at))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c.io.signal:
			c.io.resignal()
		case <-timeout:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return in.awaitIO()
}

// pushBack puts completions taken back in front of the queue.
func (q *ioQueue) pushBack(ready []func() error) {
	if len(ready) == 0 {
		return
	}
	q.mu.Lock()
	q.ready = append(ready, q.ready...)
	q.mu.Unlock()
	q.resignal()
}

// resignal makes the next wait see the completions that are ready.
func (q *ioQueue) resignal() {
	q.mu.Lock()
	n := len(q.ready)
	q.mu.Unlock()
	if n > 0 {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
}

// lend opens s's gate to the next queued call, keeping inst as s's
// instance for the calls that run meanwhile and for the lender, who
// stays one of s's users. It returns a channel closed once another call
// has taken the gate and given it back.
func (ss *slots) lend(s *slot, inst *instance) <-chan struct{} {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if inst.epoch == s.epoch {
		if s.inst == nil {
			ss.live++
		}
		s.inst = inst
	}
	s.lenders++
	if s.ran == nil {
		s.ran = make(chan struct{})
	}
	ran := s.ran
	if len(s.waiters) > 0 {
		ch := s.waiters[0]
		s.waiters = s.waiters[1:]
		close(ch)
		return ran
	}
	s.busy = false // off the LRU: the lender comes back for it
	return ran
}

// reclaim takes back the gate a call lent (in arrival order) and returns
// the slot and its instance now.
func (ss *slots) reclaim(ctx context.Context, key slotKey, lent *slot) (*slot, *instance, error) {
	s, inst, _, err := ss.acquire(ctx, key)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	lent.lenders--
	if err != nil {
		return nil, nil, err
	}
	s.users-- // the lender was already one
	return s, inst, nil
}

// leave is a lender's end when it could not take the gate back: it is no
// longer one of s's users.
func (ss *slots) leave(s *slot) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.users--
	if !s.busy && s.users == 0 && s.inst == nil {
		delete(ss.byKey, s.key)
	}
}
