package sqlstore

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// DigestCommitted is Digest of object's committed state, read on a
// connection of its own: it does not wait for a session that holds the
// object's handle (a leader's call in progress, whose writes are not
// committed and so not part of it). The FSM computes its digest this way
// while it keeps commands from being applied: waiting for a session
// there could wait for a call that itself waits for the FSM.
func (s *Store) DigestCommitted(object string) ([32]byte, error) {
	var sum [32]byte
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return sum, ErrClosed
	}
	c, err := sqlite3.OpenFlags(s.Path(object), sqlite3.OPEN_READWRITE)
	if err != nil {
		return sum, fmt.Errorf("sqlstore: digest of %s: %w", object, err)
	}
	h := &handle{name: object, path: s.Path(object), conn: c, cache: map[string]*sqlite3.Stmt{}}
	defer h.close()
	if err := h.internalExec("BEGIN"); err != nil {
		return sum, fmt.Errorf("sqlstore: digest of %s: %w", object, err)
	}
	return h.digest()
}

// Applied is the applied index of the frozen state (Store.Applied's, at
// the point it was frozen): what a snapshot records with the database.
func (f *Frozen) Applied() (uint64, error) {
	h := &handle{conn: f.conn, cache: map[string]*sqlite3.Stmt{}}
	defer func() {
		for _, st := range h.cache {
			_ = st.Close()
		}
	}()
	return h.applied()
}

// Limits are the limits the store enforces (Config.Limits, with the
// defaults filled in).
func (s *Store) Limits() Limits { return s.cfg.Limits }
