package cluster

import (
	"context"
	"runtime"
	"testing"
)

// A caller that joins while a round is in flight gets the next round, not
// that one: a read index or a leadership confirmation must come after the
// read began.
func TestRoundsJoinTheNextRound(t *testing.T) {
	started := make(chan int)
	release := make(chan struct{})
	calls := 0
	r := &rounds[int]{call: func() (int, error) {
		calls++
		started <- calls
		<-release
		return calls, nil
	}}
	ctx := context.Background()
	first := make(chan int)
	go func() { v, _ := r.join(ctx); first <- v }()
	if n := <-started; n != 1 {
		t.Fatalf("round %d started, want 1", n)
	}
	second := make(chan int)
	go func() { v, _ := r.join(ctx); second <- v }()
	// The second caller is waiting once it is in the list; round 1 is
	// still in flight.
	for {
		r.mu.Lock()
		n := len(r.waiting)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	release <- struct{}{}
	if v := <-first; v != 1 {
		t.Fatalf("first caller got round %d, want 1", v)
	}
	if n := <-started; n != 2 {
		t.Fatalf("round %d started, want 2", n)
	}
	release <- struct{}{}
	if v := <-second; v != 2 {
		t.Fatalf("second caller got round %d, want 2 (it joined during round 1)", v)
	}
}
