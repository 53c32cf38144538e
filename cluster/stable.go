package cluster

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// errStableClosed: the node has closed its stable store.
var errStableClosed = errors.New("stable store closed: the node is shutting down")

// closingStable is the node's stable store (current term and vote),
// closed once Raft and its transport are shut down.
//
// Raft's transport answers a heartbeat in its own goroutine, which checks
// for shutdown only before it starts: one that passed the check just
// before Shutdown may save a new term after the store was closed, and
// Raft panics when that save fails ("failed to save current term:
// database not open"). Nor may the save be dropped, since the transport
// can still answer the heartbeat as if the term were durable. So a write
// after close waits for the process to end; reads fail.
type closingStable struct {
	raft.StableStore
	close func() error

	mu      sync.RWMutex
	closed  bool
	late    atomic.Int64  // writes that came after close, for tests
	forever chan struct{} // never closed (tests close it)
}

func newClosingStable(s raft.StableStore, close func() error) *closingStable {
	return &closingStable{StableStore: s, close: close, forever: make(chan struct{})}
}

// Close closes the underlying store once no call is running on it.
func (c *closingStable) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.close()
}

// write runs fn unless the store is closed; then it waits (see above).
func (c *closingStable) write(fn func() error) error {
	c.mu.RLock()
	if !c.closed {
		defer c.mu.RUnlock()
		return fn()
	}
	c.mu.RUnlock()
	c.late.Add(1)
	<-c.forever
	return errStableClosed
}

func (c *closingStable) read(fn func() error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errStableClosed
	}
	return fn()
}

func (c *closingStable) Set(key, val []byte) error {
	return c.write(func() error { return c.StableStore.Set(key, val) })
}

func (c *closingStable) SetUint64(key []byte, val uint64) error {
	return c.write(func() error { return c.StableStore.SetUint64(key, val) })
}

func (c *closingStable) Get(key []byte) (v []byte, err error) {
	err = c.read(func() error { v, err = c.StableStore.Get(key); return err })
	return v, err
}

func (c *closingStable) GetUint64(key []byte) (v uint64, err error) {
	err = c.read(func() error { v, err = c.StableStore.GetUint64(key); return err })
	return v, err
}
