package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Log stores, for Config.LogStore. Both fsync every append before Raft
// counts it.
//
// LogStoreWAL is hashicorp/raft-wal: append-only segment files, one write
// and one fsync an append. It is the default for a new data directory,
// because the Raft log is on every write's path, on the leader and then
// on a follower, one after the other (bench/README.md has the figures).
//
// LogStoreBolt keeps the log in raft.db with raft-boltdb, as dobj did
// before: a copy-on-write B+tree, whose commit writes several pages and
// fsyncs twice. A data directory that holds a bolt log keeps it.
//
// raft.db stays the stable store (current term, vote) either way.
const (
	LogStoreWAL  = "wal"
	LogStoreBolt = "bolt"
)

// ErrLogStoreMismatch is returned by Open when Config.LogStore asks for a
// log store other than the one the data directory already holds.
var ErrLogStoreMismatch = errors.New("the data directory holds another log store")

// logStore is the Raft log a node opened, and how to close it. The store
// is passed to Raft as it is, not wrapped, so that Raft sees that the WAL
// is a raft.MonotonicLogStore (no gaps: Raft then deletes the whole log
// when it installs a snapshot).
type logStore struct {
	logs  raft.LogStore
	kind  string
	close func() error
}

// openLogStore opens the Raft log in dir: the one the directory holds,
// else the kind asked for (LogStoreWAL when want is empty). bolt is the
// node's raft.db, already open.
func openLogStore(dir, want string, segmentBytes int, bolt *raftboltdb.BoltStore, logger hclog.Logger) (*logStore, error) {
	walDir := filepath.Join(dir, "wal")
	haveWAL, err := exists(walDir)
	if err != nil {
		return nil, err
	}
	last, err := bolt.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("read raft.db: %w", err)
	}
	have := ""
	switch {
	case haveWAL && last > 0:
		return nil, fmt.Errorf("%w: %s has both a wal directory and log entries in raft.db; move one away", ErrLogStoreMismatch, dir)
	case haveWAL:
		have = LogStoreWAL
	case last > 0:
		have = LogStoreBolt
	}
	if want != "" && have != "" && want != have {
		return nil, fmt.Errorf("%w: %s holds a %s log; log store %s would start an empty log beside it", ErrLogStoreMismatch, dir, have, want)
	}
	kind := have
	if kind == "" {
		kind = want
	}
	switch kind {
	case LogStoreBolt:
		return &logStore{logs: bolt, kind: kind, close: func() error { return nil }}, nil
	case LogStoreWAL, "":
	default:
		return nil, fmt.Errorf("unknown log store %q (want %s or %s)", kind, LogStoreWAL, LogStoreBolt)
	}
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", walDir, err)
	}
	// The node opens the meta database itself and closes it after the
	// WAL: raft-wal v0.4.0's Close left it open, so a node reopened in the
	// same process waited forever for the file's lock, and an Open that
	// fails leaves it to the caller. Closing it twice is harmless.
	meta := &metadb.BoltMetaDB{}
	// A segment size of 0 is raft-wal's default.
	w, err := raftwal.Open(walDir, raftwal.WithMetaStore(meta), raftwal.WithSegmentSize(segmentBytes), raftwal.WithLogger(logger))
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("open raft log %s: %w", walDir, err)
	}
	return &logStore{logs: w, kind: LogStoreWAL, close: func() error {
		return errors.Join(w.Close(), meta.Close())
	}}, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for %s: %w", path, err)
	}
	return true, nil
}
