package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/raft"
)

// BenchmarkSQLRestoreOwnSnapshot is a node restarted on its data: a
// fresh store over a directory of many small databases (one row each)
// restores the node's own snapshot, which refers to all of them. The
// number of objects is DOBJ_BENCH_SQL_OBJECTS (default 1,000); with
// DOBJ_BENCH_SQL_DIR set, the databases and the snapshot are kept there
// and reused by later runs, since making 10,000 takes minutes.
func BenchmarkSQLRestoreOwnSnapshot(b *testing.B) {
	dbDir, snap := sqlObjectsDir(b)
	b.ResetTimer()
	for range b.N {
		st, err := sqlstore.Open(sqlstore.Config{Dir: dbDir})
		if err != nil {
			b.Fatal(err)
		}
		if err := New(Options{SQL: st}).Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkSQLRestoreReceivedSnapshot is a node restarted before it took
// a snapshot of its own since it joined: it restores the snapshot the
// leader sent it, every database inline, over the databases it installed
// from it. "marked" is with the record of that install (MarkRestored),
// "unmarked" without, which compares each database with the stream.
func BenchmarkSQLRestoreReceivedSnapshot(b *testing.B) {
	dbDir, own := sqlObjectsDir(b)
	sender, err := sqlstore.Open(sqlstore.Config{Dir: dbDir})
	if err != nil {
		b.Fatal(err)
	}
	var shipped bytes.Buffer
	err = New(Options{SQL: sender}).Expand(bytes.NewReader(own), &shipped)
	if err = errors.Join(err, sender.Close()); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	restoreInto := func(b *testing.B) {
		st, err := sqlstore.Open(sqlstore.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		err = New(Options{SQL: st}).Restore(nopCloser{bytes.NewReader(shipped.Bytes())})
		if err = errors.Join(err, st.Close()); err != nil {
			b.Fatal(err)
		}
	}
	restoreInto(b) // the join: installs them all
	for _, marked := range []bool{true, false} {
		b.Run(map[bool]string{true: "marked", false: "unmarked"}[marked], func(b *testing.B) {
			mark, err := os.ReadFile(filepath.Join(dir, "RESTORED-SNAPSHOT"))
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				if !marked {
					b.StopTimer()
					_ = os.Remove(filepath.Join(dir, "RESTORED-SNAPSHOT"))
					b.StartTimer()
				}
				restoreInto(b)
			}
			if err := os.WriteFile(filepath.Join(dir, "RESTORED-SNAPSHOT"), mark, 0o644); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkSQLDigest is the SQL half of GET /_cluster/digest over the
// databases BenchmarkSQLRestoreOwnSnapshot makes: "all" is a whole
// Digest, "locked" the part of it that holds the FSM's lock, and so
// stalls every write.
func BenchmarkSQLDigest(b *testing.B) {
	dbDir, snap := sqlObjectsDir(b)
	st, err := sqlstore.Open(sqlstore.Config{Dir: dbDir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m := New(Options{SQL: st})
	if err := m.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		b.Fatal(err)
	}
	b.Run("all", func(b *testing.B) {
		for range b.N {
			if _, _, _, err := m.Digest(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("locked", func(b *testing.B) {
		for range b.N {
			m.digestStart()
		}
	})
}

// sqlObjectsDir is a directory of DOBJ_BENCH_SQL_OBJECTS databases
// (default 1,000), made if need be, and the node's own snapshot of them.
func sqlObjectsDir(b *testing.B) (string, []byte) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("DOBJ_BENCH_SQL_OBJECTS")); err == nil && v > 0 {
		n = v
	}
	dir := os.Getenv("DOBJ_BENCH_SQL_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	dbDir := filepath.Join(dir, fmt.Sprintf("sql-%d", n))
	snapPath := dbDir + ".snap"
	snap, err := os.ReadFile(snapPath)
	if err != nil {
		snap = fillSQLObjects(b, dbDir, n)
		if err := os.WriteFile(snapPath, snap, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dbDir, snap
}

// fillSQLObjects makes n objects with one small row each in a store over
// dir and returns the node's own snapshot of them.
func fillSQLObjects(b *testing.B, dir string, n int) []byte {
	st, err := sqlstore.Open(sqlstore.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m := New(Options{SQL: st})
	for i := range n {
		w := &SQLWrites{Env: sqlstore.Env{Seed: uint64(i), Now: time.Unix(1_700_000_000, 0).UTC()}, Log: []sqlstore.Statement{
			{Op: sqlstore.OpSQL, SQL: "CREATE TABLE t (v INTEGER)"},
			{Op: sqlstore.OpSQL, SQL: "INSERT INTO t VALUES (1)"},
		}}
		body, err := EncodeBody(&Call{SQL: w, Response: &CallResponse{Status: 200}})
		if err != nil {
			b.Fatal(err)
		}
		data, err := Encode(&Command{Kind: KindCall, Object: ClassObject("app:Counter", strconv.Itoa(i)), Body: body, Time: 1})
		if err != nil {
			b.Fatal(err)
		}
		m.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
	}
	s, err := m.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Release()
	var sink memSink
	if err := s.Persist(&sink); err != nil {
		b.Fatal(err)
	}
	return sink.Bytes()
}
