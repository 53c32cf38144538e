package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/sqlstore"
)

// proposeSQL commits one call of object with the statements as its SQL
// writes, as the host does on the leader.
func proposeSQL(t *testing.T, n *Node, object string, stmts ...string) {
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
		t.Fatal(err)
	}
	if res := out.(*fsm.CallResult); res.Err != nil {
		t.Fatal(res.Err)
	}
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
// given, closes them when it stops, and on restart restores its snapshot
// without copying the databases its files already hold.
func TestSQLStoreUnderDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("solo", dir)
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	cfg.SQLMaxDatabaseBytes = 1 << 20
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
	object := fsm.ClassObject("app:Counter", "c1")
	proposeSQL(t, n, object, "CREATE TABLE t (v)", "INSERT INTO t VALUES (1)")
	if filepath.Dir(st.Path(object)) != filepath.Join(dir, "sql") {
		t.Fatalf("database at %s, want under %s", st.Path(object), filepath.Join(dir, "sql"))
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	proposeSQL(t, n, object, "INSERT INTO t VALUES (2)")
	before := n.Digest()
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
	if in, sk := n2.FSM().SQLRestoreStats(); in != 0 || sk != 1 {
		t.Fatalf("restart installed %d and skipped %d databases; want 0 and 1", in, sk)
	}
	after, err := os.Stat(n2.FSM().SQL().Path(object))
	if err != nil || !os.SameFile(info, after) {
		t.Fatalf("the restart replaced the database file (%v)", err)
	}
	c.eventually(5*time.Second, "the log replayed", func() bool { return n2.FSM().LastApplied() >= before.AppliedIndex })
	if d := n2.Digest(); d.Digest != before.Digest {
		t.Fatalf("digest after restart %+v, before %+v", d, before)
	}
}
