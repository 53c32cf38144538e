package sqlstore

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// ErrDiverged marks a logged statement that failed when a replica re-ran
// it, though it had succeeded on the leader. Apply changed nothing. Every
// replica fails it alike (the state and the inputs are the same), so it
// is a command's result, not a node's fault.
var ErrDiverged = errors.New("sqlstore: a logged statement failed on replay")

// noSizeLimit is max_page_count while a command is applied: the size
// limit is the leader's to enforce, in its session. A database's size in
// pages depends on its file's history (free pages, a snapshot's VACUUM),
// which replicas do not share, so a replica that enforced it could refuse
// a write another accepted.
const noSizeLimit = 0xfffffffe

// Apply runs a call's log on object in one transaction, with env fixing
// random() and 'now' as the leader's session did: all of it commits, or
// none. index is the Raft index of the command; it is stored in the same
// transaction, and a command at or below the stored index is skipped, so
// replaying a Raft log over databases already on disk is harmless.
// index 0 is never skipped and not stored.
//
// A log that fails (ErrDiverged) is remembered with its index (diverged.go),
// so that skipping it later, over a database that holds later commands,
// fails it again as it failed the first time. A failure of the node
// itself (I/O, a full disk) is not ErrDiverged: another replica did not
// fail alike, and the caller must not go on as if it had.
func (s *Store) Apply(object string, index uint64, env Env, log []Statement) error {
	h, err := s.acquire(object)
	if err != nil {
		return err
	}
	defer s.release(h)
	h.files.Lock() // it commits
	defer h.files.Unlock()
	err = h.applyOnce(index, env, log)
	if err != nil && h.maxPages != noSizeLimit && h.conn.GetAutocommit() {
		// It ran under a leader session's size limit, left set to
		// spare a statement per call: what failed may be the limit,
		// which is not a replica's to enforce. Nothing of the first
		// run is left; run it again with no limit.
		if err = h.setMaxPages(noSizeLimit); err == nil {
			err = h.applyOnce(index, env, log)
		}
	}
	if err != nil {
		h.sizeHint = 0 // what the failure left is not known
		if errors.Is(err, ErrDiverged) && index > 0 {
			if rerr := h.recordDiverged(index); rerr != nil {
				return fmt.Errorf("sqlstore: record the divergence of command %d: %w", index, rerr)
			}
		}
		return err
	}
	return nil
}

// applyOnce runs log in a transaction of its own and commits it, or
// rolls it back and returns why.
func (h *handle) applyOnce(index uint64, env Env, log []Statement) error {
	if err := h.internalExec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	ran, err := h.applyLog(index, env, log)
	if err == nil {
		err = h.internalExec("COMMIT")
	}
	if err != nil {
		if !h.conn.GetAutocommit() {
			err = errors.Join(err, h.internalExec("ROLLBACK"))
		}
		return err
	}
	if ran {
		h.appliedKV(log)
	}
	if h.appliedKnown && index > h.appliedIdx { // not skipped: stored
		h.appliedIdx = index
	}
	return nil
}

// applyLog runs log inside the open transaction; ran is false if it
// skipped it, as applied before.
func (h *handle) applyLog(index uint64, env Env, log []Statement) (ran bool, err error) {
	if index > 0 {
		applied, err := h.applied()
		if err != nil {
			return false, err
		}
		if index <= applied {
			return false, h.divergedAt(index)
		}
	}
	for i, st := range log {
		h.setStatement(env, writeStream(i))
		if err := h.replay(st); err != nil {
			if fault(err) {
				return true, fmt.Errorf("sqlstore: statement %d (%.80q): %w", i, st.SQL, err)
			}
			return true, fmt.Errorf("%w: statement %d (%.80q): %w", ErrDiverged, i, st.SQL, err)
		}
	}
	if index > 0 {
		return true, h.internalExec("INSERT OR REPLACE INTO _cf_META (key, value) VALUES ('applied', ?)", int64(index))
	}
	return true, nil
}

// replay runs one logged statement.
func (h *handle) replay(st Statement) error {
	switch st.Op {
	case OpSQL:
		return h.replaySQL(st.SQL, st.Args)
	case OpPut, OpDelete, OpDeleteAll:
		return h.replayKV(st)
	case OpSavepoint, OpRelease:
		return h.replaySavepoint(st)
	}
	return fmt.Errorf("sqlstore: unknown op %d", st.Op)
}

// replaySQL runs a logged SQL statement as a user's: the authorizer still
// applies, so a forged log cannot reach past what a session could do.
func (h *handle) replaySQL(sql string, args []any) error {
	stmt, tail, cached, err := h.prepare(sql)
	if err != nil {
		return err
	}
	if stmt == nil {
		return errors.New("no statement")
	}
	defer closeUncached(stmt, cached)
	if !isBlank(tail) {
		return errors.New("more than one statement")
	}
	// A log that went through a codec may hold its integers in the
	// smallest type that fits (msgpack does that): take them back.
	norm := make([]any, len(args))
	for i, a := range args {
		if norm[i], err = normalize(a); err != nil {
			return err
		}
	}
	_, err = h.run(stmt, norm, keepNone)
	return err
}

// applied is the Raft index of the last command applied to the database.
func (h *handle) applied() (uint64, error) {
	if h.appliedKnown {
		return h.appliedIdx, nil
	}
	var idx int64
	_, err := h.internalQuery("SELECT value FROM _cf_META WHERE key = 'applied'", func(st *sqlite3.Stmt) error {
		idx = st.ColumnInt64(0)
		return nil
	})
	if err == nil {
		h.appliedIdx, h.appliedKnown = uint64(idx), true
	}
	return uint64(idx), err
}

// Applied is the Raft index of the last command applied to object's
// database (0 if none): on restart the FSM resumes after it.
func (s *Store) Applied(object string) (uint64, error) {
	h, err := s.acquire(object)
	if err != nil {
		return 0, err
	}
	defer s.release(h)
	return h.applied()
}
