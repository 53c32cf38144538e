package cluster

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A heartbeat that passed Raft's shutdown check may save a term after
// the node closed its stores: the save must neither panic Raft (an error
// does) nor be dropped while the transport can still answer, so it waits;
// reads fail, and a store written before close reads back after reopen.
func TestStableWriteAfterCloseWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bolt, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newClosingStable(bolt, bolt.Close)
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); !errors.Is(err, errStableClosed) {
		t.Fatalf("read after close: %v, want errStableClosed", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.SetUint64([]byte("CurrentTerm"), 8) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.late.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the late write never reached the store")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("a write after close returned (%v) instead of waiting", err)
	default:
	}
	close(s.forever) // what the end of the process does to it
	if err := <-done; !errors.Is(err, errStableClosed) {
		t.Fatalf("late write: %v", err)
	}

	bolt, err = raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	if v, err := bolt.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("term after reopen = %d, %v; want 7 (the late write is not saved)", v, err)
	}
}
