package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A node that joins a cluster, or falls behind its leader's log, is sent
// a snapshot with every database inline (fsm/sqlsnap.go), and Raft keeps
// it as the node's latest snapshot until the node takes one of its own.
// A restart before then restores it again, and each database in it is
// compared with the node's own copy, which means opening it: about a
// millisecond each, seconds for 10,000. MarkRestored records that every
// database of one such snapshot was installed here, durably (Install
// syncs each); a restore of that same snapshot can then take the files
// on disk as they are and only record each one's position for the check
// at its next open (Expect), as a restore of the node's own snapshot
// does. A snapshot some of whose databases were kept rather than
// installed is not marked: those were not made durable at the position
// it records.

// restoredFile holds the mark: the sending store's identity and the
// snapshot's applied index.
const restoredFile = "RESTORED-SNAPSHOT"

// MarkRestored records that every database of the snapshot that store
// from streamed at applied index was installed into this store.
func (s *Store) MarkRestored(from string, applied uint64) error {
	if from == "" || strings.ContainsAny(from, " \n") {
		return fmt.Errorf("sqlstore: mark restored: bad store identity %q", from)
	}
	path := filepath.Join(s.cfg.Dir, restoredFile)
	if err := writeDurably(s.cfg.Dir, path, []byte(from+" "+strconv.FormatUint(applied, 10)+"\n")); err != nil {
		return fmt.Errorf("sqlstore: mark restored: %w", err)
	}
	return nil
}

// Restored reports whether MarkRestored recorded the snapshot that store
// from streamed at applied index.
func (s *Store) Restored(from string, applied uint64) bool {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, restoredFile))
	if err != nil {
		return false
	}
	id, idx, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok || id != from {
		return false
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	return err == nil && n == applied
}
