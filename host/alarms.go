package host

import (
	"context"
	"errors"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
)

// Alarms: the FSM keeps each class object's alarm time; the leader fires
// the due ones as calls to the class's alarm(), at least once: a handler
// that ran but whose command did not commit (the leader died) runs again
// on the next leader, which fires whatever is due once its read barrier
// is through. A handler that throws is retried, as Cloudflare does, with
// exponential backoff from alarmFirstBackoff, at most alarmMaxRetries
// times; then the alarm is dropped. Each failure is committed (a Call
// with Threw), so the count is the FSM's (fsm.Alarm.Retries) and a new
// leader goes on from it; the backoff's clock is the leader's, so a new
// leader runs a retried alarm at once.
const (
	alarmPoll         = 50 * time.Millisecond
	alarmFirstBackoff = 2 * time.Second
	alarmMaxRetries   = 6
	alarmBatch        = 256 // alarms started per scan at most
)

// alarmRetry is the leader's memory of when to run again an alarm whose
// handler threw (or whose commit failed).
type alarmRetry struct {
	at   int64 // the alarm time it is for; a new alarm time starts again
	next time.Time
}

// alarmDone is a finished firing.
type alarmDone struct {
	alarm fsm.Alarm // its Retries is the retryCount it ran with
	// ok: committed (or dropped for good); threw: the handler failed and
	// counts as a retry. Neither: not known to be committed (leadership
	// lost, stopped), so it is tried again soon with the same count.
	ok, threw bool
}

// alarmAgain is how soon an alarm whose commit failed is fired again.
const alarmAgain = 500 * time.Millisecond

// leadership follows the node's leadership (Raft.OnLeadership): it
// starts the alarm scheduler when this node becomes leader, and stops it
// and closes every socket (1012) when it stops being leader: their
// objects move to the new leader, where clients reconnect. Instances held
// from an earlier term are dropped by the new term's first run (ref);
// dropping them here too only frees memory sooner, since this runs after
// the change and a run may come first.
func (h *Host) leadership(isLeader bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopAlarms != nil {
		h.stopAlarms()
		h.stopAlarms = nil
	}
	if !isLeader {
		h.sql.endAll() // a new leader's commands must not wait for them
		if n := h.engine.CloseSockets(closeRestart, "the leader changed; reconnect"); n > 0 {
			h.log.Info("closed the sockets of class objects after losing leadership", "sockets", n)
		}
		// A follower runs no object: let the memory go.
		for class := range h.programs {
			h.engine.Forget(class)
		}
		clear(h.programs)
		return
	}
	if h.ctx.Err() != nil {
		return // closed
	}
	actx, cancel := context.WithCancel(h.ctx)
	h.stopAlarms = cancel
	h.wg.Add(1)
	go h.runAlarms(actx)
}

// runAlarms fires due alarms until ctx is done (leadership lost, host
// closed), once the term's read barrier is through.
func (h *Host) runAlarms(ctx context.Context) {
	defer h.wg.Done()
	retries := map[string]*alarmRetry{}
	inflight := map[string]bool{}
	done := make(chan alarmDone)
	var running int
	defer func() {
		for ; running > 0; running-- {
			<-done
		}
	}()
	tick := time.NewTicker(alarmPoll)
	defer tick.Stop()
	for {
		if h.barrierDone(ctx) {
			now := time.Now()
			due, _ := h.node.FSM().DueAlarms(now.UnixMilli(), alarmBatch)
			for _, a := range due {
				if inflight[a.Object] {
					continue
				}
				r := retries[a.Object]
				if r != nil && r.at != a.At {
					delete(retries, a.Object)
					r = nil
				}
				if r != nil && now.Before(r.next) {
					continue
				}
				inflight[a.Object] = true
				running++
				go func() { done <- h.fire(ctx, a) }()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case d := <-done:
			running--
			delete(inflight, d.alarm.Object)
			switch {
			case d.ok:
				delete(retries, d.alarm.Object)
			case d.threw:
				retries[d.alarm.Object] = &alarmRetry{at: d.alarm.At, next: time.Now().Add(alarmFirstBackoff << d.alarm.Retries)}
			default:
				retries[d.alarm.Object] = &alarmRetry{at: d.alarm.At, next: time.Now().Add(alarmAgain)}
			}
		}
	}
}

// barrierDone reports whether this node leads with its read barrier
// through (taking it if needed, for at most one poll): the FSM's alarms
// are then those every earlier leader committed.
func (h *Host) barrierDone(ctx context.Context) bool {
	if !h.node.IsLeader() {
		return false
	}
	bctx, cancel := context.WithTimeout(ctx, alarmPoll)
	defer cancel()
	_, err := h.node.Barrier(bctx)
	return err == nil
}

// fire runs one alarm's handler and commits its effects with the alarm
// cleared (unless the handler set a new one). After the last retry
// fails, or when the class is gone, the alarm is dropped.
func (h *Host) fire(ctx context.Context, a fsm.Alarm) alarmDone {
	count := a.Retries
	log := h.log.With("object", a.Object, "alarm_ms", a.At, "retry_count", count)
	out := alarmDone{alarm: a}
	class, name, ok := fsm.SplitClassObject(a.Object)
	var err error
	if ok {
		var commitFailed bool
		_, err = h.onLeader(ctx, class, name, runOpts{fired: a.At}, func(r *run) error {
			err := h.engine.Alarm(r.ctx, r.ref, name, classes.AlarmInfo{RetryCount: count, IsRetry: count > 0}, r.state,
				func(eff classes.Effects) error {
					if eff.Alarm != nil && eff.Alarm.Delete {
						// The engine deletes the alarm unless the handler
						// set one; clear it only if it is still the one
						// that fired (Fired), not one set since.
						eff.Alarm = nil
					}
					return r.commitEffects(eff)
				})
			commitFailed = r.commitErr != nil
			return err
		})
		if commitFailed || (err != nil && !errors.Is(err, ErrClassNotFound) && !isCallError(err)) {
			// Not committed, or not known to be, or not run (leadership
			// lost): the alarm is still due as far as this leader knows;
			// fire it again later (at least once), without counting a
			// retry of the code.
			log.Warn("alarm not committed", "err", err)
			return out
		}
	}
	if !ok || errors.Is(err, ErrClassNotFound) {
		log.Warn("dropping the alarm of an object whose class is gone")
		out.ok = h.drop(ctx, a) == nil
		return out
	}
	if err == nil {
		out.ok = true
		return out
	}
	if ctx.Err() != nil {
		return out
	}
	if count >= alarmMaxRetries {
		log.Warn("alarm failed after the last retry; dropping it", "err", err)
		out.ok = h.drop(ctx, a) == nil
		return out
	}
	if rerr := h.recordThrow(ctx, a); rerr != nil {
		// Not counted: run it again soon with the same count.
		log.Warn("alarm failed, and recording the failure failed", "err", err, "record_err", rerr)
		return out
	}
	log.Info("alarm failed; will retry", "err", err, "in", alarmFirstBackoff<<count)
	out.threw = true
	return out
}

func isCallError(err error) bool {
	var ce *CallError
	return errors.As(err, &ce)
}

// recordThrow commits that a's handler threw, so that its next run, on
// this leader or the next, has a retryCount one higher.
func (h *Host) recordThrow(ctx context.Context, a fsm.Alarm) error {
	body, err := fsm.EncodeBody(&fsm.Call{Threw: a.At})
	if err != nil {
		return err
	}
	_, _, err = h.node.Propose(ctx, &fsm.Command{Kind: fsm.KindCall, Object: a.Object, Body: body, Time: time.Now().UnixNano()})
	return err
}

// drop clears an alarm that is still set to a.At (the FSM checks Fired).
func (h *Host) drop(ctx context.Context, a fsm.Alarm) error {
	r := &run{h: h, ctx: ctx, object: a.Object, term: h.node.Term(), fired: a.At}
	_, err := h.commit(r, classes.Effects{}, nil)
	return err
}
