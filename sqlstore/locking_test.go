package sqlstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// TestHandleLocksItsDatabase: a store's connection keeps its database
// locked (locking_mode=EXCLUSIVE) from its first read, whether it made
// the database or opened it again (a restart): the log's index is in its
// memory, so there is no -shm file, and another connection cannot read
// the file while the handle is open. Freeze, Durable and DigestCommitted
// still work beside it, and Freeze leaves no copy behind once closed.
func TestHandleLocksItsDatabase(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir})
	create := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}, {Op: OpSQL, SQL: "INSERT INTO t VALUES (7)"}}
	if err := s.Apply("o", 1, Env{}, create); err != nil {
		t.Fatal(err)
	}
	checkLocked(t, s, "o")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Config{Dir: dir})
	if rows := query(t, s, "o", "SELECT v FROM t"); len(rows) != 1 {
		t.Fatalf("reopened: %v", rows)
	}
	checkLocked(t, s, "o")
	if applied, err := s.Durable("o"); err != nil || applied != 1 {
		t.Fatalf("Durable: %d, %v", applied, err)
	}
	want := digest(t, s, "o")
	if got, pos, err := s.DigestCommitted("o"); err != nil || got != want || pos != 1 {
		t.Fatalf("DigestCommitted %x at %d, %v; want %x at 1", got, pos, err, want)
	}
	f, err := s.Freeze("o")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	if len(left) != 0 {
		t.Fatalf("Freeze left %v behind", left)
	}
}

// checkLocked fails unless object's database, open in s, has no -shm
// file and cannot be read by another connection.
func checkLocked(t *testing.T, s *Store, object string) {
	t.Helper()
	if _, err := os.Stat(s.Path(object) + "-shm"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a -shm file beside an open database: %v", err)
	}
	c, err := sqlite3.OpenFlags(s.Path(object), sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec("SELECT count(*) FROM sqlite_schema"); !errors.Is(err, sqlite3.BUSY) {
		t.Fatalf("another connection read the open database: %v; want SQLITE_BUSY", err)
	}
}

// TestOpenADatabaseOfASharedConnection: a database written by a
// connection that did not lock it (a node of an earlier build: its log
// not checkpointed, a -shm file beside it) opens with its data, and
// later commands apply over it.
func TestOpenADatabaseOfASharedConnection(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir})
	path := s.Path("o")
	c, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`PRAGMA journal_mode=WAL; CREATE TABLE t (v); INSERT INTO t VALUES (7);
		CREATE TABLE _cf_META (key TEXT PRIMARY KEY, value) WITHOUT ROWID; INSERT INTO _cf_META VALUES ('applied', 1)`); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err != nil || fi.Size() == 0 {
			t.Fatalf("the earlier build's %s: %v, %v; the test needs it", suffix, fi, err)
		}
	}
	if rows := query(t, s, "o", "SELECT v FROM t"); len(rows) != 1 || rows[0][0] != int64(7) {
		t.Fatalf("opened over the log: %v", rows)
	}
	if err := s.Apply("o", 2, Env{}, []Statement{{Op: OpSQL, SQL: "UPDATE t SET v = v + 1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply("o", 1, Env{}, []Statement{{Op: OpSQL, SQL: "UPDATE t SET v = v + 100"}}); err != nil {
		t.Fatal(err) // skipped: the database holds it
	}
	if rows := query(t, s, "o", "SELECT v FROM t"); rows[0][0] != int64(8) {
		t.Fatalf("after applying over it: %v, want 8", rows)
	}
}

// TestDigestCommittedBesideASessionThatSpills: a session whose writes
// outgrow the page cache writes them to the log before its rollback —
// after the committed frames, or, once a checkpoint copied the whole log
// into the file, over the log from its start. The committed state's
// digest, read from copies of the files while the session holds the
// handle, leaves them out either way.
func TestDigestCommittedBesideASessionThatSpills(t *testing.T) {
	for _, checkpointed := range []bool{false, true} {
		t.Run(map[bool]string{false: "appended", true: "log restarted"}[checkpointed], func(t *testing.T) {
			s := open(t, Config{})
			env := Env{Now: time.Unix(1_700_000_000, 0)}
			setup := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}}
			for i := range 20 {
				setup = append(setup, Statement{Op: OpSQL, SQL: "INSERT INTO t VALUES (?)", Args: []any{strings.Repeat("x", 1000) + string(rune('a'+i))}})
			}
			if err := s.Apply("o", 1, env, setup); err != nil {
				t.Fatal(err)
			}
			if checkpointed {
				if _, err := s.Durable("o"); err != nil {
					t.Fatal(err)
				}
			}
			want := digest(t, s, "o")
			walBefore, err := os.ReadFile(s.Path("o") + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			sess, err := s.Begin("o", env)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Rollback()
			// Far more than the 128 KiB page cache.
			if _, err := sess.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT randomblob(4000) FROM n"); err != nil {
				t.Fatal(err)
			}
			walDuring, err := os.ReadFile(s.Path("o") + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			restarted := string(walDuring[:walHeaderBytes]) != string(walBefore[:walHeaderBytes])
			if restarted != checkpointed || len(walDuring) <= len(walBefore) && !restarted {
				t.Fatalf("the log went from %d to %d bytes, restarted %v: not what the test means to show", len(walBefore), len(walDuring), restarted)
			}
			if got, pos, err := s.DigestCommitted("o"); err != nil || got != want || pos != 1 {
				t.Fatalf("digest beside the session: %x at %d, %v; want the committed %x at 1", got, pos, err, want)
			}
		})
	}
}
