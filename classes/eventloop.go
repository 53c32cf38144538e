package classes

import (
	"time"

	"github.com/dop251/goja"
)

// next waits for what the call's event loop waits on — the first timer
// to come due, or an outbound fetch to complete — with the runtime's turn
// given up, and runs it. what names the awaiting code for ErrNeverSettled.
func (in *instance) next(what string) error {
	c := in.call
	t := c.popTimer()
	if t == nil && len(c.outbound) == 0 {
		return errorf(ErrNeverSettled, "%s awaits something that can never happen (no timer or fetch is pending)", what)
	}
	var op *outbound
	if t == nil || time.Until(t.when) > 0 {
		if err := in.outside(func() error {
			var due <-chan time.Time
			if t != nil {
				wait := time.NewTimer(time.Until(t.when))
				defer wait.Stop()
				due = wait.C
			}
			select {
			case <-due:
				return nil
			case op = <-c.outDone:
				return nil
			case <-c.ctx.Done():
				return c.ctx.Err()
			}
		}); err != nil {
			return err
		}
	}
	if op != nil {
		if t != nil {
			c.timers = append(c.timers, t) // not due yet: back in line
		}
		return in.completed(op)
	}
	if t.every > 0 { // an interval fires again unless its callback clears it
		next := *t
		next.when = t.when.Add(t.every)
		c.timers = append(c.timers, &next)
	}
	_, err := in.run(func() (goja.Value, error) { return t.fn(goja.Undefined(), t.args...) })
	return err
}
