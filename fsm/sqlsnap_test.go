package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// sqlFixture is a machine with two SQLite-backed objects, key-value
// state, an alarm and a remembered call, and the entries that made it.
type sqlFixture struct {
	m       *Machine
	entries [][]byte
}

func newSQLFixture(t *testing.T, st *sqlstore.Store) *sqlFixture {
	t.Helper()
	fx := &sqlFixture{m: New(Options{SQL: st})}
	a, b := ClassObject("app:Counter", "a"), ClassObject("app:Counter", "b")
	fx.apply(t, &Command{Kind: KindTxn, Object: "card", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "value", By: 3}}}, Time: 1})
	fx.apply(t, sqlCall(t, a, 1, "CREATE TABLE t (id INTEGER PRIMARY KEY, r INTEGER, at TEXT)", "INSERT INTO t (r, at) VALUES (random(), datetime('now'))"))
	fx.apply(t, sqlCall(t, b, 2, "CREATE TABLE u (v TEXT)", "INSERT INTO u VALUES ('x'), ('y')"))
	keyed := sqlCall(t, a, 3, "INSERT INTO t (r) VALUES (randomblob(4))")
	keyed.IdemKey, keyed.IdemExpires = "key", 1_000_000
	fx.apply(t, keyed)
	fx.apply(t, classCmd(t, KindCall, a, &Call{Alarm: &AlarmChange{At: 5_000}}))
	return fx
}

// apply encodes c, keeps the entry, and applies it at the next index.
func (fx *sqlFixture) apply(t *testing.T, c *Command) {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	fx.entries = append(fx.entries, b)
	fx.m.Apply(&raft.Log{Index: uint64(len(fx.entries)), Type: raft.LogCommand, Data: b})
}

// replay applies entries from index from on (1-based) to m, as Raft
// replays its log after a snapshot.
func (fx *sqlFixture) replay(m *Machine, from int) {
	for i := from; i <= len(fx.entries); i++ {
		m.Apply(&raft.Log{Index: uint64(i), Type: raft.LogCommand, Data: fx.entries[i-1]})
	}
}

func restore(t *testing.T, m *Machine, snap []byte) {
	t.Helper()
	if err := m.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
}

// sameState fails unless a and b have the same digest, SQL objects and
// rows.
func sameState(t *testing.T, a, b *Machine) {
	t.Helper()
	da, ia, _, _ := a.Digest()
	db, ib, _, _ := b.Digest()
	if da != db || ia != ib {
		t.Fatalf("digests %s at %d and %s at %d differ", da, ia, db, ib)
	}
	if !reflect.DeepEqual(a.SQLObjects(), b.SQLObjects()) {
		t.Fatalf("SQL objects %v and %v", a.SQLObjects(), b.SQLObjects())
	}
	for _, q := range []struct{ object, query string }{
		{ClassObject("app:Counter", "a"), "SELECT * FROM t ORDER BY id"},
		{ClassObject("app:Counter", "b"), "SELECT * FROM u ORDER BY rowid"},
	} {
		if ra, rb := rows(t, a, q.object, q.query), rows(t, b, q.object, q.query); !reflect.DeepEqual(ra, rb) {
			t.Fatalf("%s: rows %v and %v", q.object, ra, rb)
		}
	}
}

// TestSQLSnapshotRoundTrip: a snapshot carries the databases with the
// rest of the state; a machine restored from it on another node's store
// holds the same state, SQL rows included, and so does one restored
// from a backup of it.
func TestSQLSnapshotRoundTrip(t *testing.T) {
	fx := newSQLFixture(t, openSQL(t))
	b := New(Options{SQL: openSQL(t)})
	restore(t, b, shippedBytes(t, fx.m, snapshotBytes(t, fx.m)))
	sameState(t, fx.m, b)
	if in, sk := b.SQLRestoreStats(); in != 2 || sk != 0 {
		t.Fatalf("installed %d, skipped %d databases; want 2 and 0", in, sk)
	}
	if at, ok := b.AlarmOf(ClassObject("app:Counter", "a")); !ok || at != 5_000 {
		t.Fatal("the alarm did not survive")
	}
	var backup bytes.Buffer
	if err := fx.m.Capture().Write(&backup); err != nil {
		t.Fatal(err)
	}
	if applied, err := SnapshotApplied(bytes.NewReader(backup.Bytes())); err != nil || applied != fx.m.LastApplied() {
		t.Fatalf("backup applied %d (%v), want %d", applied, err, fx.m.LastApplied())
	}
	c := New(Options{SQL: openSQL(t)})
	restore(t, c, backup.Bytes())
	sameState(t, fx.m, c)
	// A retry of the keyed call gets the first answer and adds no row.
	fx.replay(c, 4)
	sameState(t, fx.m, c)
}

// TestSQLSnapshotStreamsLaterState: a snapshot taken before more writes
// streams each database as it is when Persist reaches it — later than the
// snapshot's index — and a machine restored from it, replaying the log
// after that index, applies none of those writes twice.
func TestSQLSnapshotStreamsLaterState(t *testing.T) {
	fx := newSQLFixture(t, openSQL(t))
	snap, err := fx.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	at := len(fx.entries)
	a := ClassObject("app:Counter", "a")
	fx.apply(t, sqlCall(t, a, 9, "INSERT INTO t (r) VALUES (42)"))
	fx.apply(t, sqlCall(t, a, 10, "UPDATE t SET r = r + 1"))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	b := New(Options{SQL: openSQL(t)})
	restore(t, b, shippedBytes(t, fx.m, sink.Bytes()))
	if b.LastApplied() != uint64(at) {
		t.Fatalf("restored at %d, want the snapshot's %d", b.LastApplied(), at)
	}
	fx.replay(b, at+1)
	sameState(t, fx.m, b)
}

// TestSQLRestoreSkipsWhatIsOnDisk: a node restarted on its data
// directory restores its snapshot without copying a database its own
// files hold as new or newer (the files stay the same files), and
// replays nothing they hold; a database behind the snapshot's is
// installed.
func TestSQLRestoreSkipsWhatIsOnDisk(t *testing.T) {
	dir := t.TempDir()
	st := openSQLAt(t, dir)
	fx := newSQLFixture(t, st)
	snap := snapshotBytes(t, fx.m)
	shipped := shippedBytes(t, fx.m, snap)
	a := ClassObject("app:Counter", "a")
	fx.apply(t, sqlCall(t, a, 9, "INSERT INTO t (r) VALUES (42)"))
	before, err := os.Stat(st.Path(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: the same directory, an empty machine, the snapshot,
	// then the log after it.
	st2 := openSQLAt(t, dir)
	b := New(Options{SQL: st2})
	restore(t, b, snap)
	if in, sk := b.SQLRestoreStats(); in != 0 || sk != 2 {
		t.Fatalf("installed %d, skipped %d databases; want 0 and 2", in, sk)
	}
	after, err := os.Stat(st2.Path(a))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the database file was replaced (%v)", err)
	}
	fx.replay(b, int(b.LastApplied())+1)
	ref := New(Options{SQL: openSQL(t)}) // the state the whole log gives
	fx.replay(ref, 1)
	sameState(t, ref, b)

	// A node whose database is behind gets the snapshot's.
	c := New(Options{SQL: openSQL(t)})
	c.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: fx.entries[1]})
	restore(t, c, shipped)
	if in, sk := c.SQLRestoreStats(); in != 2 || sk != 0 {
		t.Fatalf("installed %d, skipped %d databases; want 2 and 0", in, sk)
	}
	fx.replay(c, int(c.LastApplied())+1)
	sameState(t, ref, c)

	// Another node's store whose databases are as new: checked, kept.
	d := New(Options{SQL: openSQL(t)})
	fx.replay(d, 1)
	restore(t, d, shipped)
	if in, sk := d.SQLRestoreStats(); in != 0 || sk != 2 {
		t.Fatalf("installed %d, skipped %d databases; want 0 and 2", in, sk)
	}
	fx.replay(d, int(d.LastApplied())+1)
	sameState(t, ref, d)
}

// TestSQLSnapshotWithoutStore: a node without an SQL store refuses a
// snapshot that holds databases, and one with no databases needs none.
func TestSQLSnapshotWithoutStore(t *testing.T) {
	fx := newSQLFixture(t, openSQL(t))
	if err := New(Options{}).Restore(nopCloser{bytes.NewReader(snapshotBytes(t, fx.m))}); err == nil {
		t.Fatal("a node without an SQL store restored SQLite-backed objects")
	}
	restore(t, New(Options{}), snapshotBytes(t, New(Options{SQL: openSQL(t)})))
}

// shippedBytes is snap, a snapshot of m, as it leaves m's node: expanded.
func shippedBytes(t *testing.T, m *Machine, snap []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := m.Expand(bytes.NewReader(snap), &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSQLSnapshotByReference: a node's own snapshot holds its databases
// by reference, so its size does not grow with theirs, in a version a
// build without references refuses; expanded, it holds them inline, in
// the old version, and restores elsewhere to the same state.
func TestSQLSnapshotByReference(t *testing.T) {
	fx := newSQLFixture(t, openSQL(t))
	small := snapshotBytes(t, fx.m)
	a := ClassObject("app:Counter", "a")
	for i := range 4 {
		fx.apply(t, sqlCall(t, a, uint64(20+i), "INSERT INTO t (r) VALUES (randomblob(1000000))"))
	}
	big := snapshotBytes(t, fx.m)
	if len(big) != len(small) {
		t.Fatalf("the snapshot grew from %d to %d bytes with 4 MB more in a database", len(small), len(big))
	}
	shipped := shippedBytes(t, fx.m, big)
	if len(shipped) < 4_000_000 {
		t.Fatalf("the expanded snapshot is %d bytes, want the databases' 4 MB in it", len(shipped))
	}
	for _, c := range []struct {
		snap []byte
		ref  bool
	}{{big, true}, {shipped, false}} {
		if ref, err := SnapshotByReference(bytes.NewReader(c.snap)); err != nil || ref != c.ref {
			t.Fatalf("by reference %v (%v), want %v", ref, err, c.ref)
		}
	}
	var h snapshotHeader
	if err := msgpack.NewDecoder(bytes.NewReader(big)).Decode(&h); err != nil || h.V == snapshotVersion {
		t.Fatalf("a snapshot with references has version %d (%v): older builds would misread it", h.V, err)
	}
	b := New(Options{SQL: openSQL(t)})
	restore(t, b, shipped)
	sameState(t, fx.m, b)
}

// TestSQLRefRestoreFails: restoring a by-reference snapshot fails, naming
// the object, when the database it refers to is missing or in another
// node's store; one behind the recorded position stops the node at its
// first use (behindStops).
func TestSQLRefRestoreFails(t *testing.T) {
	dir := t.TempDir()
	st := openSQLAt(t, dir)
	fx := newSQLFixture(t, st)
	a, b := ClassObject("app:Counter", "a"), ClassObject("app:Counter", "b")
	older := frozenBytes(t, st, a)
	fx.apply(t, sqlCall(t, a, 9, "INSERT INTO t (r) VALUES (42)"))
	snap := snapshotBytes(t, fx.m)
	current := frozenBytes(t, st, a)

	fails := func(what string, st *sqlstore.Store, object string) {
		t.Helper()
		err := New(Options{SQL: st}).Restore(nopCloser{bytes.NewReader(snap)})
		if err == nil || !strings.Contains(err.Error(), object) {
			t.Fatalf("%s: restore gave %v, want an error naming %s", what, err, object)
		}
	}
	if err := New(Options{SQL: openSQL(t)}).Restore(nopCloser{bytes.NewReader(snap)}); err == nil || !strings.Contains(err.Error(), a) {
		t.Fatalf("another node's store: restore gave %v, want an error naming %s", err, a)
	}
	if err := st.Install(a, bytes.NewReader(older)); err != nil {
		t.Fatal(err)
	}
	behindStops(t, st, snap, fx.entries, a)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(st.Path(b) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	st2 := openSQLAt(t, dir)
	if err := st2.Install(a, bytes.NewReader(current)); err != nil { // a is fine again
		t.Fatal(err)
	}
	fails("a missing database", st2, b)
}

// frozenBytes is object's database in st as it is now, as a file.
func frozenBytes(t *testing.T, st *sqlstore.Store, object string) []byte {
	t.Helper()
	f, err := st.Freeze(object)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = f.WriteTo(&out)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// behindStops: a machine restored from snap over st, in which object's
// database is behind the position snap records, restores, fails a read
// of it with sqlstore.ErrBehind, and panics,
// naming it, on the first entry after the snapshot that writes it, as on
// any failure of its SQL store: the node stops before replaying the log
// onto a lost or replaced file.
func behindStops(t *testing.T, st *sqlstore.Store, snap []byte, entries [][]byte, object string) {
	t.Helper()
	m := New(Options{SQL: st})
	restore(t, m, snap)
	if _, err := st.Applied(object); !errors.Is(err, sqlstore.ErrBehind) || !strings.Contains(err.Error(), object) {
		t.Fatalf("a read of a database behind: %v, want ErrBehind naming %s", err, object)
	}
	c := sqlCall(t, object, 99, "INSERT INTO t (r) VALUES (7)")
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), object) {
			t.Fatalf("apply onto a database behind: panic %v, want one naming %s", p, object)
		}
	}()
	m.Apply(&raft.Log{Index: uint64(len(entries) + 1), Type: raft.LogCommand, Data: b})
}

// TestSQLStreamReplacesADatabaseBehind: a node restarted with a database
// behind its own snapshot, sent a snapshot by the leader, installs the
// streamed database in its place, and reads the leader's rows.
func TestSQLStreamReplacesADatabaseBehind(t *testing.T) {
	st := openSQL(t)
	fx := newSQLFixture(t, st)
	a := ClassObject("app:Counter", "a")
	older := frozenBytes(t, st, a)
	fx.apply(t, sqlCall(t, a, 9, "INSERT INTO t (r) VALUES (42)"))
	own := snapshotBytes(t, fx.m)
	want := rows(t, fx.m, a, "SELECT * FROM t ORDER BY id")
	leader := New(Options{SQL: openSQL(t)})
	restore(t, leader, shippedBytes(t, fx.m, own))
	sent := shippedBytes(t, leader, snapshotBytes(t, leader))

	if err := st.Install(a, bytes.NewReader(older)); err != nil {
		t.Fatal(err)
	}
	m := New(Options{SQL: st})
	restore(t, m, own)
	if _, err := st.Applied(a); !errors.Is(err, sqlstore.ErrBehind) {
		t.Fatalf("the database behind: %v, want ErrBehind", err)
	}
	restore(t, m, sent)
	if got := rows(t, m, a, "SELECT * FROM t ORDER BY id"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the leader's snapshot: rows %v, want %v", got, want)
	}
}

// TestSQLRestartFromReceivedSnapshot: a node that installed every
// database of a snapshot another node sent restores that same snapshot
// at a restart without opening its databases to compare them (each is
// checked at its next open instead, as with the node's own snapshots),
// and ends in the state the whole log gives. A node that kept some of its
// own databases instead is not marked, and compares them all again.
func TestSQLRestartFromReceivedSnapshot(t *testing.T) {
	sender := openSQL(t)
	fx := newSQLFixture(t, sender)
	applied := fx.m.LastApplied()
	shipped := shippedBytes(t, fx.m, snapshotBytes(t, fx.m))
	a := ClassObject("app:Counter", "a")
	fx.apply(t, sqlCall(t, a, 9, "INSERT INTO t (r) VALUES (42)"))

	dir := t.TempDir()
	st := openSQLAt(t, dir)
	joined := New(Options{SQL: st})
	restore(t, joined, shipped)
	if in, sk := joined.SQLRestoreStats(); in != 2 || sk != 0 {
		t.Fatalf("the new node installed %d, kept %d databases; want 2 and 0", in, sk)
	}
	if !st.Restored(sender.ID(), applied) {
		t.Fatal("a snapshot whose every database was installed is not marked")
	}
	fx.replay(joined, int(joined.LastApplied())+1)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: Raft restores the snapshot it kept, then the log.
	st2 := openSQLAt(t, dir)
	restarted := New(Options{SQL: st2})
	restore(t, restarted, shipped)
	if n := st2.Opened(); n != 0 {
		t.Fatalf("the restart opened %d databases to compare them with the snapshot", n)
	}
	if in, sk := restarted.SQLRestoreStats(); in != 0 || sk != 2 {
		t.Fatalf("the restart installed %d, kept %d databases; want 0 and 2", in, sk)
	}
	fx.replay(restarted, int(restarted.LastApplied())+1)
	ref := New(Options{SQL: openSQL(t)})
	fx.replay(ref, 1)
	sameState(t, ref, restarted)

	// A node whose databases were as new as the stream kept them: not
	// marked, since the snapshot did not make them durable.
	own := openSQL(t)
	kept := New(Options{SQL: own})
	fx.replay(kept, 1)
	restore(t, kept, shipped)
	if in, sk := kept.SQLRestoreStats(); in != 0 || sk != 2 {
		t.Fatalf("installed %d, kept %d databases; want 0 and 2", in, sk)
	}
	if own.Restored(sender.ID(), applied) {
		t.Fatal("a snapshot whose databases were kept, not installed, is marked")
	}
}
