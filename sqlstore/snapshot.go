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

// Frozen is one object's database held at one state: a read transaction
// on a connection of its own. In WAL mode it stalls no writer: commands go
// on being applied while it is open, and it still reads the state it was
// frozen at. The FSM's Snapshot freezes (quickly, under Apply's order);
// its Persist streams with WriteTo later, concurrently with Apply.
type Frozen struct {
	conn *sqlite3.Conn
	dir  string
}

// Freeze holds object's database at its current state, which it makes
// durable first (commits are not synced one by one: synchronous=NORMAL),
// so that a snapshot that records the state can count on this store's
// file holding it or a later one, after any crash. Close the result.
func (s *Store) Freeze(object string) (*Frozen, error) {
	h, err := s.acquire(object)
	if err != nil {
		return nil, err
	}
	defer s.release(h) // no command runs between opening and the read
	// A checkpoint syncs the log first: every commit so far, and so
	// the state frozen, is on disk, whatever a power cut does after.
	if _, err := h.internalQuery("PRAGMA wal_checkpoint(PASSIVE)", func(*sqlite3.Stmt) error { return nil }); err != nil {
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	c, err := sqlite3.OpenFlags(h.path, sqlite3.OPEN_READONLY)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	if err := c.Exec("BEGIN; SELECT count(*) FROM sqlite_schema;"); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("sqlstore: freeze %s: %w", object, err)
	}
	return &Frozen{conn: c, dir: s.cfg.Dir}, nil
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
	if _, err := h.internalQuery("PRAGMA wal_checkpoint(PASSIVE)", func(*sqlite3.Stmt) error { return nil }); err != nil {
		return 0, fmt.Errorf("sqlstore: sync %s: %w", object, err)
	}
	return h.applied()
}

// WriteTo streams the frozen database as a self-contained SQLite file
// (copied page by page with SQLite's backup API into a temporary file,
// then sent): what Install takes.
func (f *Frozen) WriteTo(w io.Writer) (int64, error) {
	tmp, err := os.CreateTemp(f.dir, "snapshot-*.db")
	if err != nil {
		return 0, fmt.Errorf("sqlstore: snapshot: %w", err)
	}
	name := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(name)
	if err := f.conn.Backup("main", name); err != nil {
		return 0, fmt.Errorf("sqlstore: snapshot backup: %w", err)
	}
	src, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return io.Copy(w, src)
}

// Close ends the read transaction. It is idempotent.
func (f *Frozen) Close() error {
	if f.conn == nil {
		return nil
	}
	err := f.conn.Close()
	f.conn = nil
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

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
