package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/sqlstore"
)

// proposeSQL commits one call of object with the statements as its SQL
// writes, as the host does on the leader, through c's leader (found
// again if leadership moves before the command is appended).
func (c *testCluster) proposeSQL(object string, stmts ...string) {
	c.t.Helper()
	var err error
	c.eventually(10*time.Second, "a proposal", func() bool {
		err = tryProposeSQL(c.t, c.waitLeader(nil), object, stmts...)
		return !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNotApplied)
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// proposeSQL is testCluster.proposeSQL on node n, which must lead.
func proposeSQL(t *testing.T, n *Node, object string, stmts ...string) {
	t.Helper()
	if err := tryProposeSQL(t, n, object, stmts...); err != nil {
		t.Fatal(err)
	}
}

func tryProposeSQL(t testing.TB, n *Node, object string, stmts ...string) error {
	t.Helper()
	w := &fsm.SQLWrites{Env: sqlstore.Env{Seed: 1, Now: time.Unix(1_700_000_000, 0)}}
	for _, q := range stmts {
		w.Log = append(w.Log, sqlstore.Statement{Op: sqlstore.OpSQL, SQL: q})
	}
	body, err := fsm.EncodeBody(&fsm.Call{SQL: w})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := n.Propose(context.Background(), &fsm.Command{Kind: fsm.KindCall, Object: object, Body: body})
	if err != nil {
		return err
	}
	return out.(*fsm.CallResult).Err
}

func sqlCount(t *testing.T, n *Node, object string) int64 {
	t.Helper()
	sess, err := n.FSM().SQL().BeginRead(object, sqlstore.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec("SELECT count(*) FROM t")
	if err != nil {
		t.Fatal(err)
	}
	return res.Rows[0][0].(int64)
}

// TestSQLStoreUnderDataDir: a node keeps SQLite-backed objects'
// databases in its data directory's sql/, with the size limit it was
// given (and the result size limit), closes them when it stops, and on restart restores its snapshot
// without copying the databases its files already hold.
func TestSQLStoreUnderDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("solo", dir)
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	cfg.SQLMaxDatabaseBytes = 1 << 20
	cfg.SQLMaxResultBytes = 1 << 17
	cfg.SQLOpenDatabases = 3
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
	c.waitLeader(nil)
	st := n.FSM().SQL()
	if got := st.Limits().DatabaseBytes; got != 1<<20 {
		t.Fatalf("database limit %d, want %d", got, 1<<20)
	}
	if got := st.Limits().ResultBytes; got != 1<<17 {
		t.Fatalf("result limit %d, want %d", got, 1<<17)
	}
	for i := range 5 {
		proposeSQL(t, n, fsm.ClassObject("app:Counter", fmt.Sprint("other-", i)), "CREATE TABLE t (v)")
	}
	if got := st.OpenHandles(); got > 3 {
		t.Fatalf("%d databases open, want at most 3", got)
	}
	object := fsm.ClassObject("app:Counter", "c1")
	proposeSQL(t, n, object, "CREATE TABLE t (v)", "INSERT INTO t VALUES (1)")
	if filepath.Dir(st.Path(object)) != filepath.Join(dir, "sql") {
		t.Fatalf("database at %s, want under %s", st.Path(object), filepath.Join(dir, "sql"))
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	proposeSQL(t, n, object, "INSERT INTO t VALUES (2)")
	before := digestOf(n)
	info, err := os.Stat(st.Path(object))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, err := st.Applied(object); !errors.Is(err, sqlstore.ErrClosed) {
		t.Fatalf("after Close the store answers %v, want ErrClosed", err)
	}

	n2, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	c.nodes["solo"] = n2
	c.waitLeader(nil)
	if got := sqlCount(t, n2, object); got != 2 {
		t.Fatalf("%d rows after the restart, want 2", got)
	}
	if in, sk := n2.FSM().SQLRestoreStats(); in != 0 || sk != 6 {
		t.Fatalf("restart installed %d and skipped %d databases; want 0 and 6", in, sk)
	}
	after, err := os.Stat(n2.FSM().SQL().Path(object))
	if err != nil || !os.SameFile(info, after) {
		t.Fatalf("the restart replaced the database file (%v)", err)
	}
	c.eventually(5*time.Second, "the log replayed", func() bool { return n2.FSM().LastApplied() >= before.AppliedIndex })
	if d := digestOf(n2); d.Digest != before.Digest {
		t.Fatalf("digest after restart %+v, before %+v", d, before)
	}
}

// TestSQLDatabasesReachNewAndRestartedMembers: a member that joins after
// the leader's log was compacted gets every database streamed in the
// leader's snapshot; a member restarted on its data directory restores
// its own snapshot without copying a database, then catches up on what
// it missed.
func TestSQLDatabasesReachNewAndRestartedMembers(t *testing.T) {
	c := &testCluster{t: t, nodes: map[string]*Node{}, dirs: map[string]string{}}
	cfgs := map[string]Config{}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		c.dirs[id] = t.TempDir()
		cfg := testConfig(id, c.dirs[id])
		cfg.TrailingLogs = 2        // a snapshot leaves next to no log behind
		cfg.LogStore = LogStoreBolt // which frees entries one by one, not a segment at a time
		// Elections only when a node stops, even on a busy machine.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = time.Second, time.Second
		cfg.SnapshotInterval = 50 * time.Millisecond // replaceSentSnapshots' tick
		cfgs[id] = cfg
	}
	t.Cleanup(c.closeAll) // before the directories go (cleanups run last first)
	first := cfgs["n1"]
	first.Peers = []Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}}
	c.open(first)
	leader := c.waitLeader(nil)
	join := func(id string) {
		c.open(cfgs[id])
		c.join(nil, id, "")
	}
	join("n2")
	join("n3")
	objects := []string{fsm.ClassObject("app:Counter", "a"), fsm.ClassObject("app:Counter", "b"), fsm.ClassObject("app:Counter", "c")}
	for _, o := range objects {
		c.proposeSQL(o, "CREATE TABLE t (v)", "INSERT INTO t VALUES (random())")
		c.proposeSQL(o, "INSERT INTO t VALUES (2)")
	}
	leader = c.waitLeader(nil)
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	same := func(n *Node) {
		t.Helper()
		leader := c.waitLeader(nil)
		c.eventually(10*time.Second, "the member caught up", func() bool { return n.FSM().LastApplied() >= leader.FSM().LastApplied() })
		if d, want := digestOf(n), digestOf(leader); d.Digest != want.Digest {
			t.Fatalf("digest %+v, the leader's %+v", d, want)
		}
		for _, o := range objects {
			if got := sqlCount(t, n, o); got != sqlCount(t, leader, o) {
				t.Fatalf("%s holds %d rows, the leader %d", o, got, sqlCount(t, leader, o))
			}
		}
	}

	join("n4")
	n4 := c.nodes["n4"]
	same(n4)
	if in, _ := n4.FSM().SQLRestoreStats(); in != uint64(len(objects)) {
		t.Fatalf("the new member installed %d databases, want %d", in, len(objects))
	}
	// Once it has applied past it, n4 replaces the snapshot it was sent
	// (the databases inline) with its own, which refer to them; the
	// store keeps two, so the sent one goes at n4's second snapshot.
	// Each needs a write after the latest to apply past.
	c.eventually(20*time.Second, "the new member replaced the snapshot it was sent", func() bool {
		latest, inline := n4.inlineSnapshot()
		if inline && n4.FSM().LastApplied() <= latest {
			c.proposeSQL(objects[1], "INSERT INTO t VALUES (4)")
		}
		return !inline
	})

	// n2 snapshots, stops, misses writes, and comes back.
	n2 := c.nodes["n2"]
	if err := n2.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	again := cfgs["n2"]
	again.RaftAddr = n2.RaftAddr() // where the others know it
	n2.Close()
	c.proposeSQL(objects[0], "INSERT INTO t VALUES (3)")
	n2 = c.open(again)
	same(n2)
	if in, sk := n2.FSM().SQLRestoreStats(); in != 0 || sk != uint64(len(objects)) {
		t.Fatalf("the restarted member installed %d and skipped %d databases; want 0 and %d", in, sk, len(objects))
	}
	if got := sqlCount(t, n2, objects[0]); got != 3 {
		t.Fatalf("the restarted member holds %d rows of %s, want 3", got, objects[0])
	}
}

// TestSQLBackupRestore: a backup holds SQLite-backed objects' databases,
// and a node restored from it serves their rows.
func TestSQLBackupRestore(t *testing.T) {
	cfg := testConfig("solo", t.TempDir())
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
	c.waitLeader(nil)
	object := fsm.ClassObject("app:Counter", "c1")
	proposeSQL(t, n, object, "CREATE TABLE t (v)", "INSERT INTO t VALUES (1), (2)")
	capture, err := n.Backup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := capture.Write(&backup); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	restored := testConfig("r1", t.TempDir())
	restored.RaftAddr = addr
	if _, err := Restore(restored.DataDir, "r1", addr, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), restored)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.nodes["r1"] = r
	c.waitLeader(map[string]bool{"solo": true})
	if got := sqlCount(t, r, object); got != 2 {
		t.Fatalf("the restored node holds %d rows, want 2", got)
	}
	if d, want := r.FSM().SQLObjects(), []string{object}; len(d) != 1 || d[0] != want[0] {
		t.Fatalf("restored SQL objects %v, want %v", d, want)
	}
}
