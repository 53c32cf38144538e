package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// refSnapshotStore is the node's snapshot store: Raft's file store, whose
// snapshots hold SQLite-backed objects' databases by reference (the FSM's
// Persist, fsm/sqlsnap.go), so a snapshot's file does not grow with them.
// Its Open expands such a snapshot — copies its records and streams each
// database inline, from the store as it is now — once it is armed, which
// New does after Raft has restored the node's own snapshot at start:
// every later Open is Raft sending the snapshot to a follower (the
// follower's Restore of one it received reads a stream that came inline
// over the wire, which Open passes through). Raft needs a snapshot's
// exact size before it sends a byte, so the expanded stream is written to
// a file in the data directory first, removed when Raft closes it: a copy
// made only when a follower needs one, one database frozen at a time.
type refSnapshotStore struct {
	raft.SnapshotStore
	dir string // where expanded copies are written

	mu     sync.Mutex
	expand func(r io.Reader, w io.Writer) error // nil until armed
	stop   chan struct{}                        // closed by halt
	halted bool
}

// expandedPrefix names the expanded copies in dir; one left by a crash is
// removed when the store is made.
const expandedPrefix = "snapshot-send-"

// errSnapshotHalted is what an expansion stopped by halt returns.
var errSnapshotHalted = errors.New("the node is shutting down")

// newRefSnapshotStore wraps inner; dir "" writes expanded copies in the
// system's temporary directory.
func newRefSnapshotStore(inner raft.SnapshotStore, dir string) *refSnapshotStore {
	if dir != "" {
		old, _ := filepath.Glob(filepath.Join(dir, expandedPrefix+"*"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	return &refSnapshotStore{SnapshotStore: inner, dir: dir, stop: make(chan struct{})}
}

// disarm makes Open pass every snapshot through, as a node starting on
// the store needs (a store reused by a restarted node was halted).
func (s *refSnapshotStore) disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expand = nil
	if s.halted {
		s.halted, s.stop = false, make(chan struct{})
	}
}

// arm makes Open expand by-reference snapshots with expand.
func (s *refSnapshotStore) arm(expand func(r io.Reader, w io.Writer) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expand = expand
}

// halt stops every expansion under way and to come, so that Raft's
// shutdown does not wait for one.
func (s *refSnapshotStore) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.halted {
		s.halted = true
		close(s.stop)
	}
}

// Open opens snapshot id; see refSnapshotStore.
func (s *refSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	expand, stop := s.expand, s.stop
	s.mu.Unlock()
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil || expand == nil {
		return meta, rc, err
	}
	ref, err := fsm.SnapshotByReference(rc)
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	if meta, rc, err = s.SnapshotStore.Open(id); err != nil || !ref {
		return meta, rc, err
	}
	defer rc.Close()
	f, size, err := s.expandTo(rc, expand, stop)
	if err != nil {
		return nil, nil, fmt.Errorf("expand snapshot %s: %w", id, err)
	}
	out := *meta
	out.Size = size
	return &out, &removeOnClose{f}, nil
}

// expandTo expands r into a new file and returns it, at its start, with
// its size.
func (s *refSnapshotStore) expandTo(r io.Reader, expand func(io.Reader, io.Writer) error, stop <-chan struct{}) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.dir, expandedPrefix+"*")
	if err != nil {
		return nil, 0, err
	}
	bw := bufio.NewWriterSize(haltWriter{f, stop}, 1<<16)
	err = expand(r, bw)
	if err == nil {
		err = bw.Flush()
	}
	var size int64
	if err == nil {
		size, err = f.Seek(0, io.SeekCurrent)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, 0, err
	}
	return f, size, nil
}

// haltWriter fails once stop is closed.
type haltWriter struct {
	w    io.Writer
	stop <-chan struct{}
}

func (w haltWriter) Write(p []byte) (int, error) {
	select {
	case <-w.stop:
		return 0, errSnapshotHalted
	default:
	}
	return w.w.Write(p)
}

// removeOnClose is an expanded copy, removed when closed.
type removeOnClose struct{ *os.File }

func (f *removeOnClose) Close() error {
	return errors.Join(f.File.Close(), os.Remove(f.Name()))
}
