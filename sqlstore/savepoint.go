package sqlstore

import (
	"errors"
	"fmt"
)

// Savepoints nest a call's writes, for transactionSync() and
// storage.transaction(): a group that fails is undone and the call goes
// on. They are logged so that a replica re-running the log has the same
// savepoints open when it re-runs what follows (and so that a session
// that has to replay its own log, in undo, opens them again).
//
// A savepoint rolled back takes its statements out of the log: SQLite's
// ROLLBACK TO leaves the database exactly as it was when the savepoint
// opened — rowids, AUTOINCREMENT counters and the schema included — so
// a log without them ends in the same state, every later statement keeps
// its place (and so its random() stream), and a replica never runs
// writes the call undid.

// ErrNoSavepoint is returned by Release and RollbackTo for a savepoint
// that is not open.
var ErrNoSavepoint = errors.New("sqlstore: no such savepoint")

// savepointName is the SQL name of the savepoint at depth sp (1 for the
// outermost); sp is an integer, so the name needs no quoting.
func savepointName(sp int64) string { return fmt.Sprintf("dobj_sp_%d", sp) }

// Savepoint opens a savepoint inside the ones already open and returns
// it, for Release or RollbackTo.
func (sess *Session) Savepoint() (int, error) {
	if sess.ended != nil {
		return 0, sess.ended
	}
	if err := sess.ensure(); err != nil {
		return 0, err
	}
	sp := len(sess.saves) + 1
	st := Statement{Op: OpSavepoint, Args: []any{int64(sp)}}
	if err := sess.h.replaySavepoint(st); err != nil {
		return 0, err
	}
	sess.saves = append(sess.saves, len(sess.log))
	sess.log = append(sess.log, st)
	return sp, nil
}

// Release ends savepoint sp and the ones opened inside it, keeping their
// writes as part of the enclosing savepoint (or of the call).
func (sess *Session) Release(sp int) error {
	if err := sess.checkSavepoint(sp); err != nil {
		return err
	}
	st := Statement{Op: OpRelease, Args: []any{int64(sp)}}
	if err := sess.h.replaySavepoint(st); err != nil {
		return err
	}
	sess.saves = sess.saves[:sp-1]
	sess.log = append(sess.log, st)
	return nil
}

// RollbackTo undoes every write since Savepoint returned sp and ends sp
// and the savepoints opened inside it. Those writes leave the log.
func (sess *Session) RollbackTo(sp int) error {
	if err := sess.checkSavepoint(sp); err != nil {
		return err
	}
	name := savepointName(int64(sp))
	if err := sess.h.internalExec("ROLLBACK TO " + name); err != nil {
		return err
	}
	if err := sess.h.internalExec("RELEASE " + name); err != nil {
		return err
	}
	sess.log = sess.log[:sess.saves[sp-1]]
	sess.saves = sess.saves[:sp-1]
	return nil
}

func (sess *Session) checkSavepoint(sp int) error {
	if sess.ended != nil {
		return sess.ended
	}
	if sp < 1 || sp > len(sess.saves) {
		return fmt.Errorf("%w: %d (%d open)", ErrNoSavepoint, sp, len(sess.saves))
	}
	return nil
}

// replaySavepoint opens or releases a savepoint, in a session or from a
// log.
func (h *handle) replaySavepoint(st Statement) error {
	if len(st.Args) != 1 {
		return fmt.Errorf("sqlstore: a savepoint op takes its depth, got %d arguments", len(st.Args))
	}
	a, err := normalize(st.Args[0])
	if err != nil {
		return err
	}
	sp, ok := a.(int64)
	if !ok || sp < 1 {
		return fmt.Errorf("sqlstore: savepoint depth %v is not a positive integer", st.Args[0])
	}
	switch st.Op {
	case OpSavepoint:
		return h.internalExec("SAVEPOINT " + savepointName(sp))
	case OpRelease:
		return h.internalExec("RELEASE " + savepointName(sp))
	}
	return fmt.Errorf("sqlstore: op %d is not a savepoint op", st.Op)
}
