package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/sqlstore"
)

// SQLite-backed objects (issue 22) on the leader. An object whose class
// is listed under new_sqlite_classes runs with a sqlState: the engine
// reaches its database through SQL(), which begins a sqlstore session the
// first time a stretch of the call needs one — once the object's earlier
// commands are applied — with a seed and a time of the leader's. The
// session runs the statements at once, inside a transaction (begun only
// once the call does more than get and put key-value pairs: sqlstore's
// lazy.go), so the call sees its own writes; the run's commit takes the
// session's log into the call's command (fsm.Call.SQL), rolls the
// session back and proposes: every replica, this one included, then
// applies the log with sqlstore.Store.Apply. A call that throws commits
// nothing: its session is rolled back when the run ends. A later stretch of the same call (a
// reentrant call after it lent its gate) gets a new session.
//
// A session holds its object's database handle, which the FSM needs to
// apply any command of the object, under the FSM's lock. So no session
// outlives this node's leadership (leadership(false) ends them all: a
// new leader's commands for the object would otherwise wait for it, and
// the FSM with them), and after a commit whose outcome is unknown — its
// entry may still be applied — the next session of that object waits
// for a no-op proposed after it (sqlSessions.settle).

// errSessionEnded: the session was ended under the call (leadership lost,
// host closed); the call's writes were not committed.
var errSessionEnded = fmt.Errorf("%w: the object's SQL session ended: leadership changed", cluster.ErrNotApplied)

// sqlSessions are the sessions open on this node and the objects whose
// last commit's outcome is unknown.
type sqlSessions struct {
	mu     sync.Mutex
	open   map[*sqlState]struct{}
	doubts map[string]bool // object -> a commit may still be applied
}

// add registers s as holding a session.
func (ss *sqlSessions) add(s *sqlState) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.open == nil {
		ss.open = map[*sqlState]struct{}{}
	}
	ss.open[s] = struct{}{}
}

func (ss *sqlSessions) remove(s *sqlState) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.open, s)
}

// endAll ends every open session, for a node that stopped leading.
func (ss *sqlSessions) endAll() {
	ss.mu.Lock()
	open := make([]*sqlState, 0, len(ss.open))
	for s := range ss.open {
		open = append(open, s)
	}
	ss.mu.Unlock()
	for _, s := range open {
		s.end(errSessionEnded)
	}
	// A next term's read barrier settles whatever this one left unknown.
	ss.mu.Lock()
	clear(ss.doubts)
	ss.mu.Unlock()
}

// doubt marks object's last commit as of unknown outcome.
func (ss *sqlSessions) doubt(object string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.doubts == nil {
		ss.doubts = map[string]bool{}
	}
	ss.doubts[object] = true
}

// settle returns once no command of object proposed earlier can still be
// applied: at once, unless its last commit's outcome is unknown; then
// after a no-op proposed now is applied, which, as the proposer keeps
// one entry in flight and Raft applies in order, comes after it.
func (ss *sqlSessions) settle(ctx context.Context, node Raft, object string) error {
	ss.mu.Lock()
	doubt := ss.doubts[object]
	ss.mu.Unlock()
	if !doubt {
		return nil
	}
	if _, _, err := node.Propose(ctx, &fsm.Command{Kind: fsm.KindNoop}); err != nil {
		return fmt.Errorf("%w: waiting for the object's earlier call to settle: %v", cluster.ErrNotApplied, err)
	}
	ss.mu.Lock()
	delete(ss.doubts, object)
	ss.mu.Unlock()
	return nil
}

// sqlState is a run's classes.SQLState: the object's state as objectState
// has it (alarms), and its database through a session of the leader's.
type sqlState struct {
	objectState
	h    *Host
	ctx  context.Context
	term uint64 // the run's: no session begins in another

	// mu guards the session: the engine uses it from the call's
	// goroutine, leadership(false) may end it from another.
	mu    sync.Mutex
	sess  *sqlstore.Session
	ended error // why the state hands out no more sessions
	lost  bool  // a session ended, or could not begin, as leadership was lost
}

// lostLeadership reports whether the run's SQL met the end of this
// node's leadership: a session ended under it or could not begin.
func (s *sqlState) lostLeadership() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

var _ classes.SQLState = (*sqlState)(nil)

// SQL returns the session of the call's current stretch, begun now if
// need be. A session that cannot begin is one whose every method fails
// with the reason, which the engine throws into the JavaScript.
func (s *sqlState) SQL() classes.SQLSession {
	s.mu.Lock()
	need := s.sess == nil && s.ended == nil
	s.mu.Unlock()
	if need {
		// Not under mu, which ending the session from another
		// goroutine takes: this may wait for a proposal.
		if err := s.h.sql.settle(s.ctx, s.h.node, s.object); err != nil {
			return failedSession{err}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sess == nil && s.ended == nil {
			if err := s.begin(); err != nil {
				return failedSession{err}
			}
		}
	}
	return lockedSession{s}
}

// begin starts a session, once settle has returned; mu is held.
func (s *sqlState) begin() error {
	store := s.m.SQL()
	if store == nil {
		return errors.New("this node keeps no SQLite databases")
	}
	// The leader's values for the functions that would differ between
	// replicas; the commit stamps the command with the same time.
	env := sqlstore.Env{Seed: rand.Uint64(), Now: time.Unix(0, time.Now().UnixNano()).UTC()}
	sess, err := store.Begin(s.object, env)
	if err != nil {
		return err
	}
	s.sess = sess
	s.h.sql.add(s)
	// Registered first, checked after: a leadership lost before this
	// check is seen here, one lost after it ends the session (endAll).
	if !s.h.node.IsLeader() || s.h.node.Term() != s.term {
		_ = s.rollbackLocked()
		s.lost = true
		return errSessionEnded
	}
	return nil
}

// take hands the current stretch's writes over for its command and ends
// its session; nil when it wrote nothing. The next stretch begins anew.
func (s *sqlState) take() (*fsm.SQLWrites, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != nil {
		return nil, s.ended
	}
	if s.sess == nil {
		return nil, nil
	}
	var w *fsm.SQLWrites
	if log := s.sess.Log(); len(log) > 0 {
		w = &fsm.SQLWrites{Env: s.sess.Env(), Log: log}
	}
	err := s.rollbackLocked()
	if n := logBytes(w); err == nil && n > s.h.maxSQLLog {
		err = &CallError{Message: fmt.Sprintf("the call's SQL writes take %d bytes, over the limit of %d bytes for one commit; nothing was committed", n, s.h.maxSQLLog),
			Err: classes.ErrWriteTooLarge}
	}
	return w, err
}

// logBytes is about what w takes in a command: its statements' text and
// arguments.
func logBytes(w *fsm.SQLWrites) int {
	if w == nil {
		return 0
	}
	n := 0
	for _, st := range w.Log {
		n += 8 + len(st.SQL)
		for _, a := range st.Args {
			switch v := a.(type) {
			case string:
				n += len(v)
			case []byte:
				n += len(v)
			}
			n += 9
		}
	}
	return n
}

// end rolls back any session and makes later ones fail with why (nil:
// the run is over).
func (s *sqlState) end(why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended == nil {
		s.ended = why
		if why == nil {
			s.ended = errSessionEnded
		}
	}
	if why != nil && s.sess != nil {
		s.lost = true
	}
	_ = s.rollbackLocked()
}

func (s *sqlState) rollbackLocked() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Rollback()
	s.sess = nil
	s.h.sql.remove(s)
	return err
}

// lockedSession is the session of a sqlState, each call under its lock,
// so that ending it from another goroutine waits for a statement running
// and the next one fails.
type lockedSession struct{ s *sqlState }

var _ classes.SQLSession = lockedSession{}

// use runs fn on the session under the lock.
func (l lockedSession) use(fn func(*sqlstore.Session) error) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	switch {
	case l.s.ended != nil:
		return l.s.ended
	case l.s.sess == nil:
		// Committed since the engine asked (it should have asked
		// again): that commit was applied, so there is nothing to
		// settle.
		if err := l.s.begin(); err != nil {
			return err
		}
	}
	return fn(l.s.sess)
}

func (l lockedSession) Exec(query string, args ...any) (res *sqlstore.Result, err error) {
	err = l.use(func(s *sqlstore.Session) error { res, err = s.Exec(query, args...); return err })
	return res, err
}

func (l lockedSession) DatabaseSize() (n int64, err error) {
	err = l.use(func(s *sqlstore.Session) error { n, err = s.DatabaseSize(); return err })
	return n, err
}

func (l lockedSession) Get(key string) (v []byte, ok bool, err error) {
	err = l.use(func(s *sqlstore.Session) error { v, ok, err = s.Get(key); return err })
	return v, ok, err
}

func (l lockedSession) Put(key string, value []byte) error {
	return l.use(func(s *sqlstore.Session) error { return s.Put(key, value) })
}

func (l lockedSession) Delete(key string) (ok bool, err error) {
	err = l.use(func(s *sqlstore.Session) error { ok, err = s.Delete(key); return err })
	return ok, err
}

func (l lockedSession) DeleteAll() (n int64, err error) {
	err = l.use(func(s *sqlstore.Session) error { n, err = s.DeleteAll(); return err })
	return n, err
}

func (l lockedSession) List(opts sqlstore.ListOptions) (out []sqlstore.Entry, err error) {
	err = l.use(func(s *sqlstore.Session) error { out, err = s.List(opts); return err })
	return out, err
}

func (l lockedSession) Savepoint() (sp int, err error) {
	err = l.use(func(s *sqlstore.Session) error { sp, err = s.Savepoint(); return err })
	return sp, err
}

func (l lockedSession) Release(sp int) error {
	return l.use(func(s *sqlstore.Session) error { return s.Release(sp) })
}

func (l lockedSession) RollbackTo(sp int) error {
	return l.use(func(s *sqlstore.Session) error { return s.RollbackTo(sp) })
}

// failedSession is a session that could not begin: every method fails.
type failedSession struct{ err error }

var _ classes.SQLSession = failedSession{}

func (f failedSession) Exec(string, ...any) (*sqlstore.Result, error) { return nil, f.err }
func (f failedSession) DatabaseSize() (int64, error)                  { return 0, f.err }
func (f failedSession) Get(string) ([]byte, bool, error)              { return nil, false, f.err }
func (f failedSession) Put(string, []byte) error                      { return f.err }
func (f failedSession) Delete(string) (bool, error)                   { return false, f.err }
func (f failedSession) DeleteAll() (int64, error)                     { return 0, f.err }
func (f failedSession) List(sqlstore.ListOptions) ([]sqlstore.Entry, error) {
	return nil, f.err
}
func (f failedSession) Savepoint() (int, error) { return 0, f.err }
func (f failedSession) Release(int) error       { return f.err }
func (f failedSession) RollbackTo(int) error    { return f.err }

// sqlClass reports whether class (a class key, ScriptClass's) is
// SQLite-backed: a script's class created by new_sqlite_classes.
func (h *Host) sqlClass(class string) bool {
	script, createdAs, ok := splitScriptClass(class)
	if !ok {
		return false
	}
	sc, ok := h.node.FSM().Script(script)
	if !ok {
		return false
	}
	for _, c := range sc.Classes {
		if c.CreatedAs == createdAs {
			return c.SQLite
		}
	}
	return false
}

// newState is the state of a run of object of class in term: a sqlState
// for an SQLite-backed class, else the committed key-value storage.
func (h *Host) newState(ctx context.Context, class, object string, term uint64) classes.State {
	base := objectState{m: h.node.FSM(), object: object}
	if !h.sqlClass(class) {
		return base
	}
	return &sqlState{objectState: base, h: h, ctx: ctx, term: term}
}
