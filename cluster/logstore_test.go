package cluster

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A follower that held entries of a deposed leader clears that suffix
// (Raft's DeleteRange up to the last index); the log must still open and
// read afterwards. raft-wal v0.4.0 marked the truncated tail segment
// sealed without writing its index block, so the next start failed with
// "sealed segment has no index block" and Raft panicked in NewRaft: a
// node stopped cleanly soon after "clearing log suffix" never came back.
func TestWALReopensAfterTailTruncation(t *testing.T) {
	dir := t.TempDir()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	open := func() *logStore {
		t.Helper()
		s, err := openLogStore(dir, LogStoreWAL, 4096, bolt, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	// Enough entries of 100 bytes to fill several 4 KiB segments, so the
	// truncated tail sits after sealed ones, as on a node with history.
	const last = 200
	for i := uint64(1); i <= last; i++ {
		entry := &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: fmt.Appendf(nil, "%0100d", i)}
		if err := s.logs.StoreLog(entry); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.logs.DeleteRange(last, last); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.close()
	if got, err := s.logs.LastIndex(); err != nil || got != last-1 {
		t.Fatalf("last index after reopening %d (%v), want %d", got, err, last-1)
	}
	for i := uint64(1); i < last; i++ {
		var entry raft.Log
		if err := s.logs.GetLog(i, &entry); err != nil {
			t.Fatalf("entry %d after reopening: %v", i, err)
		}
		if want := fmt.Sprintf("%0100d", i); string(entry.Data) != want {
			t.Fatalf("entry %d holds %q, want %q", i, entry.Data, want)
		}
	}
	// The next entry goes where the cleared one was.
	if err := s.logs.StoreLog(&raft.Log{Index: last, Term: 2, Type: raft.LogCommand, Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
}
