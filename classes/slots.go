package classes

import (
	"container/list"
	"context"
	"sync"
)

// slotKey names one object of one class.
type slotKey struct{ class, object string }

// slot is one object's input gate and its idle instance. The gate is FIFO:
// a call that finds the object busy queues, and release hands the gate to
// the first queued call directly, so calls run in arrival order.
type slot struct {
	key     slotKey
	busy    bool
	waiters []chan struct{} // queued calls, first in front
	users   int             // the holder and the waiters
	inst    *instance       // nil when none is built
	epoch   uint64          // bumped by forget: an instance from an older epoch is not kept
	lru     *list.Element   // in slots.lru while idle with an instance
	// lenders are calls that lent the gate (reentry.go) and will take it
	// back: while there are any, the instance is neither idle nor
	// dropped by another call, and ran is closed (and made anew) each
	// time another call gives the gate back.
	lenders int
	ran     chan struct{}
}

// slots are the objects with a live instance or a call, and the LRU of idle
// instances.
type slots struct {
	max  int
	drop func(*instance) // called for each instance the slots let go of, ss.mu held

	mu    sync.Mutex
	byKey map[slotKey]*slot
	lru   *list.List // of *slot, most recently used in front
	live  int        // instances held by slots (idle or in use)
}

func (ss *slots) init(max int, drop func(*instance)) {
	ss.max = max
	ss.drop = drop
	ss.byKey = make(map[slotKey]*slot)
	ss.lru = list.New()
}

// acquire waits for key's gate in arrival order and returns the slot, its
// instance (nil when none is built) and the slot's epoch, which an instance
// must carry to be kept. The caller must release the slot.
func (ss *slots) acquire(ctx context.Context, key slotKey) (*slot, *instance, uint64, error) {
	ss.mu.Lock()
	s := ss.byKey[key]
	if s == nil {
		s = &slot{key: key}
		ss.byKey[key] = s
	}
	s.users++
	if !s.busy {
		s.busy = true
		inst := ss.take(s)
		epoch := s.epoch
		ss.mu.Unlock()
		return s, inst, epoch, nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	ss.mu.Unlock()

	select {
	case <-ch:
		ss.mu.Lock()
		inst := ss.take(s)
		epoch := s.epoch
		ss.mu.Unlock()
		return s, inst, epoch, nil
	case <-ctx.Done():
	}
	ss.mu.Lock()
	select {
	case <-ch: // handed the gate as the context ended: pass it on, instance untouched
		inst := ss.take(s)
		ss.mu.Unlock()
		ss.release(s, inst, true)
		return nil, nil, 0, ctx.Err()
	default:
	}
	for i, w := range s.waiters {
		if w == ch {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			break
		}
	}
	s.users--
	ss.mu.Unlock()
	return nil, nil, 0, ctx.Err()
}

// take hands s's instance to the gate holder; it stays in s, off the LRU,
// while in use. ss.mu is held.
func (ss *slots) take(s *slot) *instance {
	if s.lru != nil {
		ss.lru.Remove(s.lru)
		s.lru = nil
	}
	return s.inst
}

// release ends the holder's turn: it keeps inst as s's instance (when keep
// and it was not forgotten meanwhile: its epoch is s's) or drops s's instance, then hands the
// gate to the next waiter or, with none, makes the instance idle.
func (ss *slots) release(s *slot, inst *instance, keep bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.users--
	old := s.inst
	if keep && inst != nil && inst.epoch == s.epoch {
		if s.inst == nil {
			ss.live++
		}
		s.inst = inst
	} else if s.inst != nil {
		s.inst = nil
		ss.live--
	}
	if s.ran != nil {
		close(s.ran)
		s.ran = nil
	}
	if old != nil && old != s.inst && s.lenders == 0 { // else the lender drops it
		ss.drop(old)
	}
	if inst != nil && inst != s.inst && inst != old {
		ss.drop(inst)
	}
	if len(s.waiters) > 0 {
		ch := s.waiters[0]
		s.waiters = s.waiters[1:]
		close(ch) // the gate passes on; s stays busy
		return
	}
	s.busy = false
	if s.inst != nil && s.lenders == 0 {
		s.lru = ss.lru.PushFront(s)
		ss.evict()
	} else if s.users == 0 {
		delete(ss.byKey, s.key)
	}
}

// evict drops idle instances, least recently used first, while more than
// max are live. ss.mu is held.
func (ss *slots) evict() {
	for ss.live > ss.max {
		back := ss.lru.Back()
		if back == nil {
			return // the rest are in use
		}
		s := back.Value.(*slot)
		ss.lru.Remove(back)
		s.lru = nil
		ss.drop(s.inst)
		s.inst = nil
		ss.live--
		if s.users == 0 {
			delete(ss.byKey, s.key)
		}
	}
}

// forget drops class's instances: idle ones now, busy ones when released.
func (ss *slots) forget(class string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.byKey {
		if k.class != class {
			continue
		}
		s.epoch++
		if s.busy || s.lenders > 0 {
			continue
		}
		if s.lru != nil {
			ss.lru.Remove(s.lru)
			s.lru = nil
		}
		if s.inst != nil {
			ss.drop(s.inst)
			s.inst = nil
			ss.live--
		}
		if s.users == 0 {
			delete(ss.byKey, k)
		}
	}
}

func (ss *slots) instances() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.live
}
