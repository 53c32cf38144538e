package classes

import (
	"time"

	"github.com/dop251/goja"
)

// next waits for what the call's event loop waits on — outbound I/O (a
// stub's RPC or fetch, a service binding's call, a global fetch:
// asyncio.go) to come back, or the first timer to come due — with the
// runtime's turn given up, and runs it. A call that may lend its gate
// (reentry.go) commits its writes so far and lets other requests in
// while it waits for I/O, or while it awaits a promise nothing of its
// own can settle. what names the awaiting code for ErrNeverSettled.
func (in *instance) next(what string) error {
	c := in.call
	if c.io.pending > 0 {
		ran, err := in.awaitIOLent()
		if err != nil || ran {
			return err
		}
	}
	if _, ok := c.nextTimerAt(); !ok && c.canLend() {
		// Only another request can settle what it awaits.
		return in.lendWhile(true, func() error { return nil })
	}
	t := c.popTimer()
	if t == nil {
		return errorf(ErrNeverSettled, "%s awaits something that can never happen (no timer, fetch or call is pending)", what)
	}
	if d := time.Until(t.when); d > 0 {
		if err := in.outside(func() error {
			wait := time.NewTimer(d)
			defer wait.Stop()
			select {
			case <-wait.C:
				return nil
			case <-c.ctx.Done():
				return c.ctx.Err()
			}
		}); err != nil {
			return err
		}
	}
	if t.every > 0 { // an interval fires again unless its callback clears it
		next := *t
		next.when = t.when.Add(t.every)
		c.timers = append(c.timers, &next)
	}
	_, err := in.run(func() (goja.Value, error) { return t.fn(goja.Undefined(), t.args...) })
	return err
}
