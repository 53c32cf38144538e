package cluster

import (
	"context"
	"sync"
)

// verifier shares one leadership confirmation among all the reads waiting
// at the same moment. A read joins the next round that starts after it
// joined, never one already in flight, so the confirmation always happens
// after the read began.
type verifier struct {
	verify func() error // one round of heartbeats: raft.VerifyLeader

	// mu guards waiting and running.
	mu      sync.Mutex
	waiting []chan error
	running bool
}

func (v *verifier) confirm(ctx context.Context) error {
	ch := make(chan error, 1)
	v.mu.Lock()
	v.waiting = append(v.waiting, ch)
	if !v.running {
		v.running = true
		go v.loop()
	}
	v.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *verifier) loop() {
	for {
		v.mu.Lock()
		batch := v.waiting
		v.waiting = nil
		if len(batch) == 0 {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		err := v.verify()
		for _, ch := range batch {
			ch <- err
		}
	}
}
