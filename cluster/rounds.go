package cluster

import (
	"context"
	"sync"
)

// rounds shares one call among all the callers waiting at the same
// moment: the leader's heartbeat round that confirms its leadership, and a
// follower's request for a read index. A caller joins the next round that
// starts after it joined, never one already in flight, so the call always
// happens after the caller began (what a linearizable read needs).
type rounds[T any] struct {
	call func() (T, error)

	// mu guards waiting and running.
	mu      sync.Mutex
	waiting []chan roundResult[T]
	running bool
}

type roundResult[T any] struct {
	v   T
	err error
}

func (r *rounds[T]) join(ctx context.Context) (T, error) {
	ch := make(chan roundResult[T], 1)
	r.mu.Lock()
	r.waiting = append(r.waiting, ch)
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case res := <-ch:
		return res.v, res.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (r *rounds[T]) loop() {
	for {
		r.mu.Lock()
		batch := r.waiting
		r.waiting = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		v, err := r.call()
		for _, ch := range batch {
			ch <- roundResult[T]{v, err}
		}
	}
}
