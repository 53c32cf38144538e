package fsm

import (
	"errors"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/raft"
)

// openSQL is a store of databases in a fresh directory, closed when the
// test ends.
func openSQL(t testing.TB) *sqlstore.Store {
	t.Helper()
	return openSQLAt(t, t.TempDir())
}

// openSQLAt opens a store over dir, closed when the test ends (a node
// restarted on its data opens the same dir again).
func openSQLAt(t testing.TB, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(sqlstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sqlCall is a KindCall of object with the given SQL statements (no
// arguments) and key-value puts, as the leader would send it.
func sqlCall(t *testing.T, object string, seed uint64, stmts ...string) *Command {
	t.Helper()
	w := &SQLWrites{Env: sqlstore.Env{Seed: seed, Now: time.Unix(1_700_000_000, 0).UTC()}}
	for _, q := range stmts {
		w.Log = append(w.Log, sqlstore.Statement{Op: sqlstore.OpSQL, SQL: q})
	}
	return classCmd(t, KindCall, object, &Call{SQL: w, Response: &CallResponse{Status: 200}})
}

// rows runs a read-only query on object's database in m's store.
func rows(t *testing.T, m *Machine, object, query string) [][]any {
	t.Helper()
	sess, err := m.SQL().BeginRead(object, sqlstore.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res.Rows
}

// TestSQLCallEncodesAsVersion4: a call with SQL writes is version 4,
// keyed or not; the others keep the versions they had, and the writes
// come back from the log as they were sent.
func TestSQLCallEncodesAsVersion4(t *testing.T) {
	for _, c := range []struct {
		name string
		cmd  Command
		want uint8
	}{
		{"sql keyed", sqlCallCmd(t), sqlCallVersion},
		{"sql", func() Command { c := sqlCallCmd(t); c.IdemKey = ""; return c }(), sqlCallVersion},
		{"keyed", keyedCallCmd(t), callVersion},
		{"plain", *classCmd(t, KindCall, "o", &Call{Alarm: &AlarmChange{At: 1}}), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(&c.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil || got.V != c.want {
				t.Fatalf("version %d (%v), want %d", got.V, err, c.want)
			}
		})
	}
	var call Call
	c := sqlCallCmd(t)
	decodeBody(&c, 1, &call)
	args := call.SQL.Log[1].Args
	if len(args) != 5 || args[0] != int64(-300) || args[1] != "x" || string(args[2].([]byte)) != "\x01\x02" || args[3] != nil || args[4] != 1.5 {
		t.Fatalf("arguments came back as %#v", args)
	}
	if !call.SQL.Env.Now.Equal(time.Unix(1_700_000_000, 5)) || call.SQL.Env.Seed != 7 {
		t.Fatalf("env came back as %+v", call.SQL.Env)
	}
}

// TestSQLCallReplicas: two replicas that apply the same calls hold the
// same rows, random() and datetime('now') included, and the same digest;
// the call's other effects apply with its writes.
func TestSQLCallReplicas(t *testing.T) {
	object := ClassObject("app:Counter", "c1")
	var ms []*Machine
	for range 2 {
		m := New(Options{SQL: openSQL(t)})
		f := &feeder{t: t, m: m}
		f.applyRaw(sqlCall(t, object, 1, "CREATE TABLE t (id INTEGER PRIMARY KEY, r INTEGER, at TEXT)"))
		res := f.applyRaw(sqlCall(t, object, 2, "INSERT INTO t (r, at) VALUES (random(), datetime('now'))", "UPDATE t SET r = r + 1")).(*CallResult)
		if res.Err != nil || res.Index != 2 || res.Response.Status != 200 {
			t.Fatalf("result %+v", res)
		}
		ms = append(ms, m)
	}
	a, b := rows(t, ms[0], object, "SELECT * FROM t"), rows(t, ms[1], object, "SELECT * FROM t")
	if len(a) != 1 || a[0][2] != "2023-11-14 22:13:20" || a[0][1] != b[0][1] {
		t.Fatalf("rows %v and %v", a, b)
	}
	da, _, _, _ := ms[0].Digest()
	db, _, _, _ := ms[1].Digest()
	if da != db {
		t.Fatal("the replicas' digests differ")
	}
	if got := ms[0].SQLObjects(); len(got) != 1 || got[0] != object {
		t.Fatalf("SQL objects = %v", got)
	}
}

// TestSQLCallDigestCoversRows: the digest changes with the rows.
func TestSQLCallDigestCoversRows(t *testing.T) {
	object := ClassObject("app:Counter", "c1")
	digests := map[string]bool{}
	for _, v := range []string{"1", "2"} {
		m := New(Options{SQL: openSQL(t)})
		f := &feeder{t: t, m: m}
		f.applyRaw(sqlCall(t, object, 1, "CREATE TABLE t (v)", "INSERT INTO t VALUES ("+v+")"))
		d, _, _, _ := m.Digest()
		digests[d] = true
	}
	if len(digests) != 2 {
		t.Fatal("two machines with different rows have the same digest")
	}
}

// TestSQLCallDiverged: a call whose writes fail to re-run applies nothing
// else — no alarm, no remembered response — and says so; a retry with
// the same key runs again.
func TestSQLCallDiverged(t *testing.T) {
	object := ClassObject("app:Counter", "c1")
	m := New(Options{SQL: openSQL(t)})
	f := &feeder{t: t, m: m}
	cmd := sqlCall(t, object, 1, "INSERT INTO missing VALUES (1)")
	var call Call
	decodeBody(cmd, 0, &call)
	call.Alarm = &AlarmChange{At: 99}
	cmd = classCmd(t, KindCall, object, &call)
	cmd.IdemKey, cmd.IdemExpires = "k", 1_000
	res := f.applyRaw(cmd).(*CallResult)
	if !errors.Is(res.Err, sqlstore.ErrDiverged) || res.Replayed {
		t.Fatalf("result %+v, want ErrDiverged", res)
	}
	if _, ok := m.AlarmOf(object); ok {
		t.Fatal("the diverged call's alarm was set")
	}
	again := f.applyRaw(cmd).(*CallResult)
	if again.Replayed || !errors.Is(again.Err, sqlstore.ErrDiverged) {
		t.Fatalf("retry %+v: want it run again (and fail again), not replayed", again)
	}
}

// TestSQLCallsInOneEntry: two calls of one object in one batch entry both
// apply (the database's applied position counts commands, not entries).
func TestSQLCallsInOneEntry(t *testing.T) {
	object := ClassObject("app:Counter", "c1")
	m := New(Options{SQL: openSQL(t)})
	var batch [][]byte
	for _, q := range []string{"CREATE TABLE t (v)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"} {
		b, err := Encode(sqlCall(t, object, 1, q))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, b)
	}
	data, err := Encode(&Command{Kind: KindBatch, Batch: batch, Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(*BatchResponse)
	for i, r := range out.Responses {
		if r.(*CallResult).Err != nil {
			t.Fatalf("call %d: %v", i, r.(*CallResult).Err)
		}
	}
	if got := rows(t, m, object, "SELECT count(*) FROM t"); got[0][0] != int64(2) {
		t.Fatalf("%v rows, want 2", got[0][0])
	}
	// Applied again (a restart replaying the log): nothing twice.
	m.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	if got := rows(t, m, object, "SELECT count(*) FROM t"); got[0][0] != int64(2) {
		t.Fatalf("%v rows after a replay, want 2", got[0][0])
	}
}

// TestSQLCallWithOpsRefused: SQL writes and key-value ops in one call
// cannot apply atomically; such a call changes nothing.
func TestSQLCallWithOpsRefused(t *testing.T) {
	object := ClassObject("app:Counter", "c1")
	m := New(Options{SQL: openSQL(t)})
	f := &feeder{t: t, m: m}
	cmd := sqlCall(t, object, 1, "CREATE TABLE t (v)")
	var call Call
	decodeBody(cmd, 0, &call)
	call.Ops = []objects.Op{{Op: objects.OpDeleteAll}}
	res := f.applyRaw(classCmd(t, KindCall, object, &call)).(*CallResult)
	if !errors.Is(res.Err, ErrSQLCallInvalid) {
		t.Fatalf("result %+v, want ErrSQLCallInvalid", res)
	}
	if len(m.SQLObjects()) != 0 {
		t.Fatal("the refused call made a database")
	}
}

// TestSQLCallNeedsVersion4: an entry of an earlier version whose body
// carries SQL writes (no build writes one) is refused, not applied
// without them.
func TestSQLCallNeedsVersion4(t *testing.T) {
	m := New(Options{SQL: openSQL(t)})
	f := &feeder{t: t, m: m}
	defer func() {
		if recover() == nil {
			t.Fatal("a version 2 entry with SQL writes applied")
		}
	}()
	f.applyAsV2(sqlCall(t, "o", 1, "CREATE TABLE t (v)"))
}
