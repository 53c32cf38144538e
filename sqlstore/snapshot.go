package sqlstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// Digest is a hash of object's logical state: its schema (type, name,
// table and SQL of each entry, by type and name) and every table's rows
// (rowid tables by rowid, WITHOUT ROWID tables by primary key, values
// with their types), the key-value pairs included and the store's own
// metadata left out. Two replicas that applied the same commands have the
// same digest whatever their files' page layout; dobj check compares it.
func (s *Store) Digest(object string) ([32]byte, error) {
	h, err := s.acquire(object)
	if err != nil {
		return [32]byte{}, err
	}
	defer s.release(h)
	return h.digest()
}

// digest computes Digest on a locked handle.
func (h *handle) digest() ([32]byte, error) {
	var sum [32]byte
	d := sha256.New()
	type table struct {
		name  string
		rowid bool
	}
	var tables []table
	_, err := h.internalQuery(`SELECT s.type, s.name, s.tbl_name, coalesce(s.sql, ''), coalesce(t.wr, 0)
		FROM sqlite_schema s LEFT JOIN pragma_table_list t ON t.schema = 'main' AND t.name = s.name AND s.type = 'table'
		WHERE s.name != '_cf_META' ORDER BY s.type, s.name`, func(st *sqlite3.Stmt) error {
		for i := range 4 {
			writeValue(d, st.ColumnText(i))
		}
		typ, sql := st.ColumnText(0), st.ColumnText(3)
		if typ == "table" && !strings.HasPrefix(strings.ToUpper(sql), "CREATE VIRTUAL") {
			tables = append(tables, table{st.ColumnText(1), st.ColumnInt64(4) == 0})
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	for _, t := range tables {
		q := "SELECT * FROM " + quoteIdent(t.name)
		if t.rowid {
			q = "SELECT rowid, * FROM " + quoteIdent(t.name) + " ORDER BY rowid"
		}
		writeValue(d, "rows of "+t.name)
		_, err := h.internalQuery(q, func(st *sqlite3.Stmt) error {
			n := st.ColumnCount()
			writeValue(d, int64(n))
			for i := range n {
				writeValue(d, columnValue(st, i))
			}
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("sqlstore: digest of table %s: %w", t.name, err)
		}
	}
	copy(sum[:], d.Sum(nil))
	return sum, nil
}

// writeValue writes v to w tagged with its type and length, so that no
// two different sequences of values write the same bytes.
func writeValue(w io.Writer, v any) {
	var buf [9]byte
	switch v := v.(type) {
	case nil:
		buf[0] = 0
		_, _ = w.Write(buf[:1])
	case int64:
		buf[0] = 1
		binary.BigEndian.PutUint64(buf[1:], uint64(v))
		_, _ = w.Write(buf[:])
	case float64:
		buf[0] = 2
		binary.BigEndian.PutUint64(buf[1:], math.Float64bits(v))
		_, _ = w.Write(buf[:])
	case string:
		buf[0] = 3
		binary.BigEndian.PutUint64(buf[1:], uint64(len(v)))
		_, _ = w.Write(buf[:])
		_, _ = io.WriteString(w, v)
	case []byte:
		buf[0] = 4
		binary.BigEndian.PutUint64(buf[1:], uint64(len(v)))
		_, _ = w.Write(buf[:])
		_, _ = w.Write(v)
	}
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Frozen is one object's database as it was at one state: a copy of its
// file, taken under the object's handle and streamed later. Commands go
// on being applied meanwhile; the copy keeps the state it was taken at.
// The FSM's Persist freezes one database at a time and streams it at
// once (fsm/sqlsnap.go).
type Frozen struct {
	name    string // the copy, removed by Close
	applied uint64
}

// Freeze copies object's database as it is now into a file of its own,
// which it makes durable first (commits are not synced one by one:
// synchronous=NORMAL), so that a snapshot that records the state can
// count on this store's file holding it or a later one, after any
// crash. The handle locks the file (locking_mode=EXCLUSIVE), so the copy
// is made through it: a checkpoint moves the whole log into the file,
// and the file is copied while the object's commands wait, for as long
// as copying the file takes. Close the result.
func (s *Store) Freeze(object string) (*Frozen, error) {
	h, err := s.acquire(object)
	if err != nil {
		return nil, err
	}
	defer s.release(h)
	h.files.Lock()
	defer h.files.Unlock()
	if err := h.checkpointAll(); err != nil {
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	applied, err := h.applied()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	tmp, err := os.CreateTemp(s.cfg.Dir, "snapshot-*.db")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	f := &Frozen{name: tmp.Name(), applied: applied}
	if err = errors.Join(copyFileTo(tmp, h.path), tmp.Close()); err != nil {
		_ = os.Remove(f.name)
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	return f, nil
}

// checkpointAll copies every commit of the log into the database file
// and syncs both: the file alone then holds the state, durably. With
// the file locked by this connection no reader holds a checkpoint back;
// one that did not copy it all is an error all the same.
func (h *handle) checkpointAll() error {
	var busy, logFrames, done int64
	if _, err := h.internalQuery("PRAGMA wal_checkpoint(PASSIVE)", func(st *sqlite3.Stmt) error {
		busy, logFrames, done = st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2)
		return nil
	}); err != nil {
		return err
	}
	if busy != 0 || logFrames != done {
		return fmt.Errorf("checkpoint copied %d of the log's %d frames", done, logFrames)
	}
	return nil
}

// Durable makes object's database durable as it is now, as Freeze does,
// and returns the applied position it holds (Applied): what a snapshot
// that refers to the database, rather than copying it, records. After it
// the file holds that position or a later one, whatever a crash does.
func (s *Store) Durable(object string) (uint64, error) {
	h, err := s.acquire(object)
	if err != nil {
		return 0, err
	}
	defer s.release(h)
	h.files.Lock()
	defer h.files.Unlock()
	if err := h.checkpointAll(); err != nil {
		return 0, fmt.Errorf("sqlstore: sync %s: %w", object, err)
	}
	return h.applied()
}

// Applied is the applied index of the frozen state (Store.Applied's, at
// the point it was frozen): what a snapshot records with the database.
func (f *Frozen) Applied() (uint64, error) { return f.applied, nil }

// WriteTo streams the frozen database as a self-contained SQLite file:
// what Install takes.
func (f *Frozen) WriteTo(w io.Writer) (int64, error) {
	if f.name == "" {
		return 0, errors.New("sqlstore: snapshot: the frozen database is closed")
	}
	src, err := os.Open(f.name)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: snapshot: %w", err)
	}
	defer src.Close()
	return io.Copy(w, src)
}

// Close removes the copy. It is idempotent.
func (f *Frozen) Close() error {
	if f.name == "" {
		return nil
	}
	err := os.Remove(f.name)
	f.name = ""
	return err
}

// Install replaces object's database with the one r streams (as WriteTo
// wrote it). The stream is checked before it replaces anything; the
// object's handle is closed and reopened on next use. No Frozen of the
// object may be open.
func (s *Store) Install(object string, r io.Reader) error {
	tmp, err := os.CreateTemp(s.cfg.Dir, "install-*.db")
	if err != nil {
		return fmt.Errorf("sqlstore: install: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = io.Copy(tmp, r)
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("sqlstore: install %s: %w", object, err)
	}
	if err := checkDatabase(name); err != nil {
		return fmt.Errorf("sqlstore: install %s: %w", object, err)
	}
	path := s.Path(object)
	if err := s.replace(object, name); err != nil {
		return fmt.Errorf("sqlstore: install %s: %w", object, err)
	}
	return syncDir(filepath.Dir(path))
}

// checkDatabase opens the file at name and runs SQLite's quick check.
func checkDatabase(name string) error {
	c, err := sqlite3.OpenFlags(name, sqlite3.OPEN_READWRITE)
	if err != nil {
		return err
	}
	defer c.Close()
	st, _, err := c.Prepare("PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("not an SQLite database: %w", err)
	}
	defer st.Close()
	if !st.Step() {
		return fmt.Errorf("not an SQLite database: %w", st.Err())
	}
	if res := st.ColumnText(0); res != "ok" {
		return fmt.Errorf("damaged database: %s", res)
	}
	return nil
}

// writeDurably writes data to the file at path, which is in dir, whole
// or not at all: through a synced temporary file renamed over it, the
// rename synced.
func writeDurably(dir, path string, data []byte) error {
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, data, 0o644)
	if err == nil {
		var f *os.File
		if f, err = os.Open(tmp); err == nil {
			err = errors.Join(f.Sync(), f.Close())
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
