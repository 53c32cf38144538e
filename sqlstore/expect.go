package sqlstore

import (
	"errors"
	"fmt"
)

// ErrBehind is returned for an object whose database holds an earlier
// applied position than one Expect recorded: a lost or replaced file,
// which must not be read or written, nor replayed onto.
var ErrBehind = errors.New("sqlstore: database behind the recorded position")

// Expect records that object's database must hold position applied or a
// later one, as the node's own snapshot recorded it: a restart. The file
// must exist; its position is checked when the database is next opened,
// before anything reads or writes it, so that a restart over 10,000
// databases opens none of them (an open costs milliseconds). A database
// that fails the check fails every use with ErrBehind, naming the object,
// until Install replaces it. A database already open is checked now.
func (s *Store) Expect(object string, applied uint64) error {
	if !s.Has(object) {
		return fmt.Errorf("sqlstore: the database of %s at position %d is missing from %s", object, applied, s.Path(object))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	_, open := s.handles[object]
	if !open {
		if applied > s.expect[object] {
			s.expect[object] = applied
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	local, err := s.Applied(object)
	if err != nil {
		return err
	}
	return behind(object, s.Path(object), local, applied)
}

// checkExpected checks a freshly opened handle against what Expect
// recorded for it; s.mu is held.
func (s *Store) checkExpected(h *handle) error {
	want, ok := s.expect[h.name]
	if !ok {
		return nil
	}
	local, err := h.applied()
	if err != nil {
		return fmt.Errorf("sqlstore: read the position of %s: %w", h.name, err)
	}
	if err := behind(h.name, h.path, local, want); err != nil {
		return err
	}
	delete(s.expect, h.name) // a database only moves forward from here
	return nil
}

func behind(object, path string, local, want uint64) error {
	if local < want {
		return fmt.Errorf("%w: a snapshot of this store recorded the database of %s at position %d, but %s holds only position %d", ErrBehind, object, want, path, local)
	}
	return nil
}
