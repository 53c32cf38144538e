package sqlstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// idFile holds a store directory's identity.
const idFile = "STORE-ID"

// storeID reads dir's identity, making one the first time: random, so
// that no other directory — another node's, a fresh one after this one
// was wiped — has it.
func storeID(dir string) (string, error) {
	path := filepath.Join(dir, idFile)
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("sqlstore: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("sqlstore: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("sqlstore: %w", err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = errors.Join(f.Sync(), f.Close())
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore: write %s: %w", path, err)
	}
	return id, nil
}

// ID is the identity of the store's directory. A snapshot written from
// this store and restored into it (a node restarted on its data
// directory) needs no database checked: Freeze made each state it
// recorded durable, and a database never goes back.
func (s *Store) ID() string { return s.id }

// Has reports whether object's database file exists.
func (s *Store) Has(object string) bool {
	_, err := os.Stat(s.Path(object))
	return err == nil
}
