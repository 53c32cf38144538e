package sqlstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
)

// DigestCommitted is Digest of object's committed state, without waiting
// for a session that holds the object's handle (a leader's call in
// progress, whose writes are not committed and so not part of it), which
// could last as long as the call does. It never creates a database: an
// object without one is ErrNoDatabase.
//
// It also returns the position the database holds (what Apply stored
// with the last command it applied, 0 if none), read with the hash and
// from the same state: nothing commits to the database between them (the
// handle is locked, or the files are a copy). The FSM hashes databases
// without keeping commands from being applied, and compares the
// positions with the index it took the rest of its state at.
func (s *Store) DigestCommitted(object string) (sum [32]byte, pos uint64, err error) {
	if !s.Has(object) {
		return sum, 0, fmt.Errorf("sqlstore: digest of %s: %w", object, ErrNoDatabase)
	}
	for {
		h, err := s.pin(object)
		if err != nil {
			return sum, 0, err
		}
		if !h.mu.TryLock() {
			// In use: by a session, most likely, which commits nothing.
			sum, pos, err = s.digestFiles(h)
			s.unpin(h)
			return sum, pos, err
		}
		if h.conn == nil { // replaced meanwhile: pin the new one
			s.release(h)
			continue
		}
		sum, pos, err = h.digestAt() // no session holds it: all is committed
		s.release(h)
		return sum, pos, err
	}
}

// digestAt is digest and the position the database holds, on a locked
// handle, so that nothing commits between the two.
func (h *handle) digestAt() ([32]byte, uint64, error) {
	pos, err := h.applied()
	if err != nil {
		return [32]byte{}, 0, fmt.Errorf("sqlstore: read the position of %s: %w", h.name, err)
	}
	sum, err := h.digest()
	return sum, pos, err
}

// digestFiles is DigestCommitted of h's database while another user
// holds the handle: the database file and its log are copied, while
// nothing commits, checkpoints or replaces them (h.files), and the copy
// is opened on a connection of its own. The holder may be a session,
// which commits nothing but may write to the log: frames past the last
// commit, which SQLite's recovery of the copy leaves out, or, once all of
// the log is in the file, a new log over the old one, whose header it
// writes first — then the file alone is the committed state, and the
// copied log is left out (the header is read again after the copy).
func (s *Store) digestFiles(h *handle) (sum [32]byte, pos uint64, err error) {
	dir, err := os.MkdirTemp(s.cfg.Dir, "digest-*")
	if err != nil {
		return sum, 0, fmt.Errorf("sqlstore: digest of %s: %w", h.name, err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "copy.db")
	h.files.RLock()
	err = copyCommitted(h.path, name)
	h.files.RUnlock()
	if err != nil {
		return sum, 0, fmt.Errorf("sqlstore: digest of %s: %w", h.name, err)
	}
	c, err := sqlite3.OpenFlags(name, sqlite3.OPEN_READWRITE)
	if err != nil {
		return sum, 0, fmt.Errorf("sqlstore: digest of %s: %w", h.name, err)
	}
	cp := &handle{name: h.name, path: name, conn: c, cache: map[stmtKey]*sqlite3.Stmt{}}
	defer cp.close()
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE"); err != nil { // no -shm file
		return sum, 0, fmt.Errorf("sqlstore: digest of %s: %w", h.name, err)
	}
	return cp.digestAt()
}

// walHeaderBytes is the size of a write-ahead log's header.
const walHeaderBytes = 32

// copyCommitted copies the database file at path and its log to dst and
// dst's log; a log whose header changed while it was copied is left out
// (see digestFiles).
func copyCommitted(path, dst string) error {
	if err := copyFile(path, dst); err != nil {
		return err
	}
	wal := path + "-wal"
	before := make([]byte, walHeaderBytes)
	if err := readHeader(wal, before); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := copyFile(wal, dst+"-wal"); err != nil {
		return err
	}
	after := make([]byte, walHeaderBytes)
	if err := readHeader(wal, after); err != nil {
		return err
	}
	if !bytes.Equal(before, after) {
		return os.Remove(dst + "-wal") // a new log: the file holds all
	}
	return nil
}

// readHeader reads the first len(buf) bytes of the file at name; a
// shorter file leaves the rest of buf zero.
func readHeader(name string, buf []byte) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	clear(buf)
	_, err = io.ReadFull(f, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// copyFile copies the file at src to a new file dst.
func copyFile(src, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return errors.Join(copyFileTo(out, src), out.Close())
}

// copyFileTo copies the file at src into out.
func copyFileTo(out io.Writer, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(out, in)
	return err
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
	if err := writeDurably(dir, path, []byte(id+"\n")); err != nil {
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
