package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// ErrDataDirInUse: Restore refuses a data directory that already holds
// something; a restore seeds a new node only.
var ErrDataDirInUse = errors.New("data directory is not empty")

// Restore seeds dataDir, which must be empty or absent, from a backup (the
// FSM's snapshot format, as GET /_cluster/backup streams it): it checks
// that the backup decodes whole, then writes it as a Raft snapshot of the
// index it was taken at, whose configuration is this node alone (id at
// raftAddr, the address it will advertise). Open then starts from it: the
// node elects itself and serves the restored state; others join it. It
// returns the backup's applied index.
func Restore(dataDir, id, raftAddr string, backup io.ReadSeeker) (uint64, error) {
	if id == "" || raftAddr == "" {
		return 0, errors.New("restore: node id and raft address are required")
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("restore: %s: %w", dataDir, ErrDataDirInUse)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("restore: %w", err)
	}
	applied, err := fsm.SnapshotApplied(backup)
	if err != nil {
		return 0, fmt.Errorf("restore: the backup does not decode: %w", err)
	}
	if _, err := backup.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStore(dataDir, 2, io.Discard)
	if err != nil {
		return 0, fmt.Errorf("restore: snapshot store: %w", err)
	}
	// Raft needs an index of at least 1; the log after it starts empty.
	index := max(applied, 1)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(raftAddr)}}}
	_, trans := raft.NewInmemTransport("") // only encodes the peer list of old snapshot versions
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(sink, backup); err != nil {
		sink.Cancel()
		return 0, fmt.Errorf("restore: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return 0, fmt.Errorf("restore: write snapshot: %w", err)
	}
	return applied, nil
}
