package sqlstore

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// Divergence is remembered in _cf_META, a row 'diverged/<index>' per
// command whose log failed, written after the command's transaction was
// rolled back; the applied index stays where it was (a replay that
// reaches the command before any later one runs it, and fails, again). A replica
// that meets the command again — its Raft log replayed over a database
// that already holds later commands, after a restart or a streamed
// snapshot — skips it as applied, and the row makes the skip fail as the
// first run did, so the caller's state does not depend on whether the
// database had seen the command before.

// divergedKey is the _cf_META key recording that the command at index
// diverged.
func divergedKey(index uint64) string { return fmt.Sprintf("diverged/%d", index) }

// recordDiverged remembers, in a transaction of its own, that the command
// at index failed.
func (h *handle) recordDiverged(index uint64) error {
	if err := h.internalExec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := h.internalExec("INSERT OR REPLACE INTO _cf_META (key, value) VALUES (?, 1)", divergedKey(index)); err != nil {
		return errors.Join(err, h.internalExec("ROLLBACK"))
	}
	return h.internalExec("COMMIT")
}

// divergedAt returns an ErrDiverged error if the command at index was
// recorded as diverged, nil if it applied.
func (h *handle) divergedAt(index uint64) error {
	n, err := h.internalQuery("SELECT 1 FROM _cf_META WHERE key = ?", func(*sqlite3.Stmt) error { return nil }, divergedKey(index))
	switch {
	case err != nil:
		return err
	case n > 0:
		return fmt.Errorf("%w: command %d failed when it was first applied", ErrDiverged, index)
	}
	return nil
}

// fault reports whether err is the node's own failure rather than the
// statement's: I/O, a full disk, a damaged or locked file, no memory.
// Another replica would not fail alike, so it is not a divergence.
func fault(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		if e = asError(err); e == nil {
			return false
		}
	}
	switch e.Code {
	case sqlite3.IOERR, sqlite3.FULL, sqlite3.NOMEM, sqlite3.CANTOPEN, sqlite3.CORRUPT,
		sqlite3.NOTADB, sqlite3.BUSY, sqlite3.LOCKED, sqlite3.READONLY, sqlite3.PROTOCOL, sqlite3.INTERRUPT:
		return true
	}
	return false
}
