package classes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/sqlstore"
)

// sqlState is a SQLite-backed object's State as the host makes it: a
// session begun on the leader's store when the call first asks for one,
// and, at commit, the session's log applied to the leader's store and to
// a replica's, as the FSM does on every node, the session rolled back
// first.
type sqlState struct {
	*fakeState
	t                testing.TB
	leader, replica  *sqlstore.Store
	env              sqlstore.Env
	mu               sync.Mutex
	sess             *sqlstore.Session
	index            uint64
	sqlCommits, asks int
}

var _ SQLState = (*sqlState)(nil)

func newSQLState(t testing.TB, object string) *sqlState {
	t.Helper()
	return newSQLStateWith(t, object, sqlstore.Limits{})
}

// newSQLStateWith is newSQLState with the stores' limits.
func newSQLStateWith(t testing.TB, object string, limits sqlstore.Limits) *sqlState {
	t.Helper()
	open := func() *sqlstore.Store {
		s, err := sqlstore.Open(sqlstore.Config{Dir: t.TempDir(), Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	st := &sqlState{fakeState: newFakeState(object), t: t, leader: open(), replica: open(),
		env: sqlstore.Env{Seed: 42, Now: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)}}
	t.Cleanup(st.abort)
	return st
}

func (s *sqlState) SQL() SQLSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asks++
	if s.sess == nil {
		sess, err := s.leader.Begin(s.object, s.env)
		if err != nil {
			s.t.Errorf("Begin: %v", err)
			return nil
		}
		s.sess = sess
	}
	return s.sess
}

// commit is the host's commit callback: the Effects (an alarm; no keys)
// and the session's log, applied as one command on every node.
func (s *sqlState) commit(e Effects, _ *Response) error {
	if len(e.Ops) > 0 {
		s.t.Errorf("a SQLite-backed object's Effects carry key-value ops: %+v", e.Ops)
	}
	if err := s.apply(e); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	log := s.sess.Log()
	if err := s.sess.Rollback(); err != nil {
		return err
	}
	s.sess = nil
	if len(log) == 0 {
		return nil
	}
	s.index++
	s.sqlCommits++
	for _, st := range []*sqlstore.Store{s.leader, s.replica} {
		if st == nil { // a benchmark's: no replica
			continue
		}
		if err := st.Apply(s.object, s.index, s.env, log); err != nil {
			return err
		}
	}
	return nil
}

// abort is what the host does when a call fails: its session is rolled
// back, nothing applied.
func (s *sqlState) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		_ = s.sess.Rollback()
		s.sess = nil
	}
}

// query reads the leader's committed database.
func (s *sqlState) query(q string, args ...any) [][]any {
	s.t.Helper()
	sess, err := s.leader.BeginRead(s.object, s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	defer sess.Rollback()
	res, err := sess.Exec(q, args...)
	if err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

// kv reads a key the leader committed, as stored.
func (s *sqlState) kv(key string) (string, bool) {
	s.t.Helper()
	sess, err := s.leader.BeginRead(s.object, s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	defer sess.Rollback()
	v, ok, err := sess.Get(key)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(v), ok
}

// replicasAgree fails the test unless the replica's database holds what
// the leader's does.
func (s *sqlState) replicasAgree() {
	s.t.Helper()
	a, err := s.leader.Digest(s.object)
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := s.replica.Digest(s.object)
	if err != nil {
		s.t.Fatal(err)
	}
	if a != b {
		s.t.Fatalf("the replica's database differs from the leader's after replay")
	}
}

// runSQL runs body (as runBody does) on a SQLite-backed object.
func runSQL(t testing.TB, e *Engine, st *sqlState, body string) (string, error) {
	t.Helper()
	p := mustCompile(t, "T", bodyModule(body))
	return callSQL(t, e, ClassRef{Name: "T", Version: 1, Program: p}, st, "/")
}

func callSQL(t testing.TB, e *Engine, ref ClassRef, st *sqlState, path string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := &Request{Method: "GET", URL: "http://dobj.test" + path, Header: http.Header{}}
	resp, err := e.Call(ctx, ref, st.object, req, st, st.commit)
	st.abort()
	if err != nil {
		return "", err
	}
	return string(resp.Body), nil
}

// artists is the table of Cloudflare's SQL API examples.
const artists = `const sql = ctx.storage.sql;
	sql.exec("CREATE TABLE IF NOT EXISTS artist(artistid INTEGER PRIMARY KEY, artistname TEXT);" +
		"INSERT INTO artist (artistid, artistname) VALUES (123, 'Alice'), (456, 'Bob'), (789, 'Charlie');");
`

// TestSQLAPI runs Cloudflare's documented SQL examples and the rest of
// the API on a SQLite-backed object; after each call the replica that
// replayed its log holds what the leader does.
func TestSQLAPI(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"hello world template", `return ctx.storage.sql.exec("SELECT 'Hello, World!' as greeting").one().greeting`, `"Hello, World!"`},
		{"create, insert, iterate", artists + `let out = [];
			for (const row of sql.exec("SELECT * FROM artist WHERE artistid > ?;", 200)) out.push(row.artistid + ": " + row.artistname);
			return out`, `["456: Bob","789: Charlie"]`},
		{"insert with bindings", `const sql = ctx.storage.sql;
			sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)");
			const c = sql.exec("INSERT INTO t (name, score) VALUES (?, ?), (?, ?)", "a", 1.5, "b", 2);
			return [c.rowsWritten, sql.exec("SELECT * FROM t ORDER BY id").toArray()]`,
			`[2,[{"id":1,"name":"a","score":1.5},{"id":2,"name":"b","score":2}]]`},
		{"bindings are the last statement's", artists + `return sql.exec("INSERT INTO artist VALUES (1, 'Dora'); SELECT artistname FROM artist WHERE artistid = ?", 1).one()`,
			`{"artistname":"Dora"}`},
		{"next", artists + `const c = sql.exec("SELECT artistname FROM artist ORDER BY artistid");
			return [c.next(), c.next(), c.next(), c.next()]`,
			`[{"done":false,"value":{"artistname":"Alice"}},{"done":false,"value":{"artistname":"Bob"}},{"done":false,"value":{"artistname":"Charlie"}},{"done":true,"value":undefined}]`},
		{"raw", artists + `const raw = sql.exec("SELECT * FROM artist ORDER BY artistid").raw();
			return [raw.next().value, [...raw]]`, `[[123,"Alice"],[[456,"Bob"],[789,"Charlie"]]]`},
		{"raw toArray", artists + `return sql.exec("SELECT artistid FROM artist ORDER BY artistid").raw().toArray()`, `[[123],[456],[789]]`},
		{"columnNames", artists + `return sql.exec("SELECT artistid AS id, artistname FROM artist").columnNames`, `["id","artistname"]`},
		{"one", artists + `return sql.exec("SELECT artistname FROM artist WHERE artistid = ?", 456).one()`, `{"artistname":"Bob"}`},
		{"one of none", artists + `try { sql.exec("SELECT * FROM artist WHERE artistid = 1").one() } catch (e) { return [e instanceof Error, e.message] }`,
			`[true,"Expected exactly one result from SQL query, but got no results."]`},
		{"one of many", artists + `try { sql.exec("SELECT * FROM artist").one() } catch (e) { return e.message }`,
			`"Expected exactly one result from SQL query, but got multiple results."`},
		{"toArray after next", artists + `const c = sql.exec("SELECT artistid FROM artist ORDER BY artistid"); c.next();
			return [c.toArray(), c.toArray()]`, `[[{"artistid":456},{"artistid":789}],[]]`},
		{"rows read and written", artists + `const w = sql.exec("UPDATE artist SET artistname = upper(artistname)");
			const r = sql.exec("SELECT * FROM artist"); r.toArray();
			return [w.rowsWritten, r.rowsRead >= 3, r.rowsWritten]`, `[3,true,0]`},
		{"value types", `const r = ctx.storage.sql.exec("SELECT 1 AS i, 1.5 AS r, 'x' AS t, x'0102ff' AS b, NULL AS n").one();
			return [typeof r.i, r.i, r.r, r.t, r.b instanceof ArrayBuffer, [...new Uint8Array(r.b)], r.n]`,
			`["number",1,1.5,"x",true,[1,2,255],null]`},
		{"big integers are numbers", `return ctx.storage.sql.exec("SELECT 9007199254740993 AS big").one().big`, `9007199254740992`},
		{"binding types", `const b = new Uint8Array([9, 8, 7]);
			return ctx.storage.sql.exec("SELECT typeof(?), typeof(?), typeof(?), typeof(?), typeof(?), typeof(?), typeof(?), typeof(?), hex(?), hex(?)",
				1, 1.5, "s", b, b.buffer, null, true, 5n, b.subarray(1), new DataView(b.buffer, 2)).raw().next().value`,
			`["real","real","text","blob","blob","null","integer","integer","0807","07"]`},
		{"numbers bind as REAL, as on Cloudflare", artists + `return [sql.exec("SELECT ? / 2 AS h", 5).one().h,
				sql.exec("SELECT artistid FROM artist ORDER BY 1 LIMIT ?", 2).raw().toArray(),
				sql.exec("SELECT typeof(artistid) AS t FROM artist WHERE artistid = ?", 456).one().t]`, `[2.5,[[123],[456]],"integer"]`},
		{"database size", `const sql = ctx.storage.sql; const before = sql.databaseSize;
			sql.exec("CREATE TABLE big (x)"); sql.exec("INSERT INTO big VALUES (randomblob(100000))");
			return [typeof before, sql.databaseSize > before + 100000]`, `["number",true]`},
		{"increment returning", `const sql = ctx.storage.sql;
			sql.exec("CREATE TABLE c (k TEXT PRIMARY KEY, v INTEGER)"); sql.exec("INSERT INTO c VALUES ('n', 0)");
			const a = sql.exec("UPDATE c SET v = v + 1 WHERE k = ? RETURNING v", "n").one().v;
			return [a, sql.exec("UPDATE c SET v = v + 1 WHERE k = ? RETURNING v", "n").one().v]`, `[1,2]`},
		{"transactionSync commits", artists + `const r = ctx.storage.transactionSync(() => {
				sql.exec("INSERT INTO artist VALUES (1, 'Dora')"); return sql.exec("SELECT count(*) AS n FROM artist").one().n; });
			return [r, sql.exec("SELECT count(*) AS n FROM artist").one().n]`, `[4,4]`},
		{"transactionSync rolls back and rethrows", artists + `let caught;
			try { ctx.storage.transactionSync(() => { sql.exec("DELETE FROM artist"); ctx.storage.kv.put("k", 1); throw new RangeError("no"); }); }
			catch (e) { caught = [e instanceof RangeError, e.message]; }
			return [caught, sql.exec("SELECT count(*) AS n FROM artist").one().n, ctx.storage.kv.get("k")]`, `[[true,"no"],3,undefined]`},
		{"transactionSync nests", artists + `ctx.storage.transactionSync(() => {
				sql.exec("INSERT INTO artist VALUES (1, 'kept')");
				try { ctx.storage.transactionSync(() => { sql.exec("INSERT INTO artist VALUES (2, 'gone')"); throw new Error("inner"); }); } catch (e) {}
				sql.exec("INSERT INTO artist VALUES (3, 'kept too')");
			});
			return sql.exec("SELECT artistid FROM artist WHERE artistid < 100 ORDER BY 1").raw().toArray()`, `[[1],[3]]`},
		{"transactionSync of an SQL error", artists + `try { ctx.storage.transactionSync(() => { sql.exec("DELETE FROM artist"); sql.exec("SELEC 1"); }) } catch (e) {}
			return sql.exec("SELECT count(*) AS n FROM artist").one().n`, `3`},
		{"sync kv", `const kv = ctx.storage.kv;
			kv.put("b", {x: [1, 2]}); kv.put("a", 1); kv.put("c", "three");
			const had = [kv.delete("c"), kv.delete("zz")];
			return [kv.get("a"), kv.get("b"), kv.get("c"), had, [...kv.list()], [...kv.list({reverse: true, limit: 1})], [...kv.list({prefix: "b"})].length]`,
			`[1,{"x":[1,2]},undefined,[true,false],[["a",1],["b",{"x":[1,2]}]],[["b",{"x":[1,2]}]],1]`},
		{"async kv in the database", `await storage.put("a", 1); await storage.put({b: 2, c: 3});
			const seen = [ctx.storage.kv.get("b"), await storage.get(["a", "c"]), await storage.delete(["a", "zz"])];
			ctx.storage.kv.put("d", "sync");
			return [seen, await storage.get("d"), await storage.list({start: "b"})]`,
			`[[2,Map{"a"=>1,"c"=>3},1],"sync",Map{"b"=>2,"c"=>3,"d"=>"sync"}]`},
		{"async transaction rolls back SQL", artists + `try { await storage.transaction(async (txn) => {
				sql.exec("DELETE FROM artist"); await txn.put("k", 1); throw new Error("x"); }); } catch (e) {}
			const kept = await storage.transaction(async (txn) => { sql.exec("DELETE FROM artist WHERE artistid = 123"); return 1; });
			return [kept, sql.exec("SELECT count(*) AS n FROM artist").one().n, await storage.get("k")]`, `[1,2,undefined]`},
		{"deleteAll drops tables", artists + `await storage.put("k", 1); await storage.deleteAll();
			return [sql.exec("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'artist'").one().n, await storage.get("k")]`, `[0,undefined]`},
		{"alarms beside SQL", artists + `await storage.setAlarm(5000); sql.exec("DELETE FROM artist");
			return [await storage.getAlarm(), sql.exec("SELECT count(*) AS n FROM artist").one().n]`, `[5000,0]`},
		{"an error caught goes on", artists + `try { sql.exec("INSERT INTO artist VALUES (123, 'dup')") } catch (e) { return sql.exec("SELECT count(*) AS n FROM artist").one().n }`, `3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSQLState(t, "obj")
			got, err := runSQL(t, newTestEngine(t, Config{}), st, tt.body)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			st.replicasAgree()
		})
	}
}

// TestSQLCommitsWhatTheCallSaw: the rows a call wrote are on disk, in
// the leader's and the replica's databases, after its commit, and its
// key-value writes are stored as the key-value classes store them (JSON).
func TestSQLCommitsWhatTheCallSaw(t *testing.T) {
	st := newSQLState(t, "obj")
	e := newTestEngine(t, Config{})
	_, err := runSQL(t, e, st, artists+`sql.exec("INSERT INTO artist VALUES (?, ?)", 1, new Uint8Array([1, 2]));
		await storage.put("obj", {a: [1, "x"]}); ctx.storage.kv.put("n", 5);
		sql.exec("CREATE TABLE r (x, t DEFAULT CURRENT_TIMESTAMP)"); sql.exec("INSERT INTO r (x) VALUES (random())");`)
	if err != nil {
		t.Fatal(err)
	}
	if st.sqlCommits != 1 {
		t.Fatalf("%d SQL commits, want 1", st.sqlCommits)
	}
	rows := st.query("SELECT artistid, artistname FROM artist ORDER BY artistid")
	if len(rows) != 4 || rows[0][0] != int64(1) || string(rows[0][1].([]byte)) != "\x01\x02" {
		t.Fatalf("rows %v", rows)
	}
	for key, want := range map[string]string{"obj": `{"a":[1,"x"]}`, "n": `5`} {
		if got, ok := st.kv(key); !ok || got != want {
			t.Errorf("key %q stored %q, want %q", key, got, want)
		}
	}
	if ts := st.query("SELECT t FROM r")[0][0]; ts != "2026-12-07 14:00:00" {
		t.Errorf("CURRENT_TIMESTAMP stored %v, want the call's time", ts)
	}
	st.replicasAgree()
	// The next call reads what the last one committed.
	got, err := runSQL(t, e, st, `return [ctx.storage.sql.exec("SELECT count(*) AS n FROM artist").one().n, await storage.get("obj")]`)
	if err != nil || got != `[4,{"a":[1,"x"]}]` {
		t.Fatalf("next call: %s, %v", got, err)
	}
}

// TestSQLErrors: an SQL error throws an Error with SQLite's message, or
// with the restriction or limit that refused the statement; a call that
// does not catch it commits nothing.
func TestSQLErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
		is         error // what the ScriptError wraps, if set
	}{
		{"syntax", `sql.exec("SELEC 1")`, []string{`near "SELEC": syntax error`, "SQLITE_ERROR"}, nil},
		{"no such table", `sql.exec("SELECT * FROM nope")`, []string{"no such table: nope"}, nil},
		{"constraint", `sql.exec("CREATE TABLE u (x UNIQUE)"); sql.exec("INSERT INTO u VALUES (1), (1)")`,
			[]string{"UNIQUE constraint failed: u.x", "SQLITE_CONSTRAINT"}, nil},
		{"attach", `sql.exec("ATTACH DATABASE 'x.db' AS x")`, []string{"ATTACH and DETACH are not allowed"}, sqlstore.ErrRefused},
		{"begin", `sql.exec("BEGIN TRANSACTION")`, []string{"BEGIN statements are not allowed", "transactionSync"}, nil},
		{"savepoint", `sql.exec("SAVEPOINT a")`, []string{"SAVEPOINT, RELEASE and ROLLBACK TO statements are not allowed"}, nil},
		{"pragma", `sql.exec("PRAGMA journal_mode = DELETE")`, []string{"PRAGMA journal_mode is not allowed"}, nil},
		{"key-value table", `sql.exec("SELECT * FROM _cf_KV")`, []string{"_cf_* is not allowed"}, nil},
		{"statement limit", `sql.exec("SELECT " + "1+".repeat(60000) + "1")`, []string{"over the limit of 100000 bytes"}, sqlstore.ErrLimit},
		{"column limit", `sql.exec("CREATE TABLE w (" + Array.from({length: 101}, (_, i) => "c" + i).join(", ") + ")")`,
			[]string{"too many columns"}, nil},
		{"row limit", `sql.exec("INSERT INTO artist VALUES (1, ?)", "x".repeat(2100000))`, []string{"string or blob too big", "SQLITE_TOOBIG"}, nil},
		{"parameters before the last statement", `sql.exec("INSERT INTO artist VALUES (?, 'x'); SELECT 1", 1)`,
			[]string{"When executing multiple SQL statements in a single call, only the last statement can have parameters"}, nil},
		{"too many bindings", `sql.exec("SELECT ?", 1, 2)`, []string{"Wrong number of parameter bindings for SQL query"}, nil},
		{"bad binding", `sql.exec("SELECT ?", {})`, []string{"binding 1 must be a number, string, ArrayBuffer"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSQLState(t, "obj")
			_, err := runSQL(t, newTestEngine(t, Config{}), st, artists+tt.body)
			msg := scriptMessage(t, err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q, want it to contain %q", msg, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if st.sqlCommits != 0 {
				t.Errorf("a failed call committed")
			}
			if n := st.query("SELECT count(*) FROM sqlite_schema WHERE name = 'artist'"); n[0][0] != int64(0) {
				t.Errorf("a failed call's table is in the database")
			}
		})
	}
}

// TestSQLNeedsSQLiteClass: a class that is not SQLite-backed gets an
// Error that names new_sqlite_classes for what only those have.
func TestSQLNeedsSQLiteClass(t *testing.T) {
	for _, body := range []string{
		`ctx.storage.sql.exec("SELECT 1")`,
		`ctx.storage.sql.databaseSize`,
		`ctx.storage.kv.get("a")`,
		`ctx.storage.kv.put("a", 1)`,
		`ctx.storage.kv.list()`,
		`ctx.storage.transactionSync(() => 1)`,
	} {
		t.Run(body, func(t *testing.T) {
			_, err := runBody(t, newTestEngine(t, Config{}), newFakeState("obj"), body)
			if msg := scriptMessage(t, err); !strings.Contains(msg, "new_sqlite_classes") || !errors.Is(err, ErrNotSQLite) {
				t.Fatalf("error %q, want ErrNotSQLite naming new_sqlite_classes", msg)
			}
		})
	}
}

// rpcCommit is commit for Engine.RPC.
func (s *sqlState) rpcCommit(e Effects) error { return s.commit(e, nil) }

// TestSQLReentrantCommitsAtLend: a reentrant call on a SQLite-backed
// object that awaits a fetch commits its SQL writes before the fetch
// leaves (its Effects are empty: the writes are in the session), and
// another call runs on the object, in a session of its own, while the
// fetch is out.
func TestSQLReentrantCommitsAtLend(t *testing.T) {
	st := newSQLState(t, "obj")
	commits := make(chan int, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		commits <- st.sqlCommits
		st.mu.Unlock()
		<-release
		io.WriteString(w, "fetched")
	}))
	defer srv.Close()
	e := newTestEngine(t, Config{OutboundAllow: []string{"127.0.0.1:*"}})
	ref := ClassRef{Name: "S", Version: 1, Reentrant: true, Program: mustCompile(t, "S", `
import { DurableObject } from "cloudflare:workers";
export class S extends DurableObject {
  async write(url) {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE t (v)");
    sql.exec("INSERT INTO t VALUES ('before')");
    const r = await fetch(url);
    sql.exec("INSERT INTO t VALUES ('after')");
    return (await r.text()) + " " + sql.exec("SELECT count(*) AS n FROM t").one().n;
  }
  other() { this.ctx.storage.sql.exec("INSERT INTO t VALUES ('other')"); return "other"; }
}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		res, err := e.RPC(ctx, ref, st.object, "write", []byte(`["`+srv.URL+`"]`), st, st.rpcCommit)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(res.Value)
	}()
	if n := <-commits; n != 1 {
		close(release)
		t.Fatalf("%d SQL commits as the fetch arrives; want the writes before it committed", n)
	}
	if rows := st.query("SELECT group_concat(v) FROM t"); rows[0][0] != "before" {
		close(release)
		t.Fatalf("the database holds %v as the fetch arrives; want the write before it", rows)
	}
	res, err := e.RPC(ctx, ref, st.object, "other", nil, st, st.rpcCommit)
	close(release)
	if err != nil || string(res.Value) != `"other"` {
		t.Fatalf("other while the fetch is out = %v, %v", res, err)
	}
	if v := <-got; v != `"fetched 3"` {
		t.Fatalf("write = %s", v)
	}
	if rows := st.query("SELECT group_concat(v) FROM t"); rows[0][0] != "before,other,after" {
		t.Fatalf("rows %v", rows)
	}
	st.replicasAgree()
}

// sqlCounter is a counter kept in a SQL table, its table made by the
// constructor as Cloudflare's examples make theirs.
const sqlCounter = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec("CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, v INTEGER NOT NULL); INSERT OR IGNORE INTO counter VALUES ('n', 0)");
    });
  }
  async fetch(request) {
    const v = this.sql.exec("UPDATE counter SET v = v + 1 WHERE k = ? RETURNING v", "n").one().v;
    return new Response(String(v));
  }
}`

// TestSQLCounter: the constructor's table and each call's increment are
// committed; a new instance (a restart) reads the count from disk.
func TestSQLCounter(t *testing.T) {
	st := newSQLState(t, "obj")
	ref := ClassRef{Name: "Counter", Version: 1, Program: mustCompile(t, "Counter", sqlCounter)}
	for i, e := range []*Engine{newTestEngine(t, Config{}), newTestEngine(t, Config{})} {
		for j := 1; j <= 2; j++ {
			got, err := callSQL(t, e, ref, st, "/")
			if want := fmt.Sprint(2*i + j); err != nil || got != want {
				t.Fatalf("engine %d, call %d: %q, %v; want %s", i, j, got, err, want)
			}
		}
	}
	st.replicasAgree()
}

// TestSQLSizeLimit: at the database's size limit a write throws an
// Error that names the limit, and reads go on.
func TestSQLSizeLimit(t *testing.T) {
	st := newSQLStateWith(t, "obj", sqlstore.Limits{DatabaseBytes: 64 << 10})
	got, err := runSQL(t, newTestEngine(t, Config{}), st, `const sql = ctx.storage.sql;
		sql.exec("CREATE TABLE big (x)");
		let msg;
		try { sql.exec("INSERT INTO big VALUES (randomblob(100000))"); } catch (e) { msg = e.message; }
		return [msg, sql.exec("SELECT count(*) AS n FROM big").one().n]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "database size limit of 65536 bytes reached") || !strings.HasSuffix(got, ",0]") {
		t.Fatalf("got %s; want the limit's error, then a read", got)
	}
	st.replicasAgree()
}

// bigTable makes table big of 100 rows of 1,000 bytes, 100 KB in all.
const bigTable = `const sql = ctx.storage.sql;
	sql.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, n INTEGER DEFAULT 0)");
	sql.exec("INSERT INTO big (id, v) SELECT value, printf('%.1000c', 'x') FROM generate_series(1, 100)");
`

// TestSQLResultLimit: a statement whose result is over the limit throws
// an Error that names it, and a call that does not catch it commits
// nothing; one that does goes on, the failed write undone, and reads the
// same rows in pages.
func TestSQLResultLimit(t *testing.T) {
	limits := sqlstore.Limits{ResultBytes: 64 << 10}
	st := newSQLStateWith(t, "obj", limits)
	_, err := runSQL(t, newTestEngine(t, Config{}), st, bigTable+`return sql.exec("SELECT * FROM big").toArray().length`)
	msg := scriptMessage(t, err)
	if !strings.Contains(msg, "result size limit of 65536 bytes reached") || !strings.Contains(msg, "SQLITE_TOOBIG") || !errors.Is(err, sqlstore.ErrLimit) {
		t.Fatalf("error %v; want the result size limit, named", err)
	}
	if st.sqlCommits != 0 {
		t.Fatal("a call that did not catch the error committed")
	}
	if n := st.query("SELECT count(*) FROM sqlite_schema WHERE name = 'big'"); n[0][0] != int64(0) {
		t.Fatal("the failed call's table is in the database")
	}

	st = newSQLStateWith(t, "obj", limits)
	got, err := runSQL(t, newTestEngine(t, Config{}), st, bigTable+`let msg;
		try { sql.exec("UPDATE big SET n = n + 1 RETURNING v"); } catch (e) { msg = e.message; }
		let rows = 0;
		for (let off = 0; off < 100; off += 25) rows += sql.exec("SELECT v FROM big LIMIT 25 OFFSET ?", off).toArray().length;
		return [msg, rows, sql.exec("SELECT sum(n) AS s FROM big").one().s]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "result size limit of 65536 bytes reached") || !strings.HasSuffix(got, ",100,0]") {
		t.Fatalf("got %s; want the limit's error, 100 rows in pages, no update", got)
	}
	if st.sqlCommits != 1 || st.query("SELECT count(*), sum(n) FROM big")[0][0] != int64(100) || st.query("SELECT sum(n) FROM big")[0][0] != int64(0) {
		t.Fatal("the call that caught the error did not commit its table as it saw it")
	}
	st.replicasAgree()
}

// TestExampleHelloWorldTemplate: create-cloudflare's Durable Objects
// hello world (examples/hello-world-do-template) answers sayHello from
// its SQL query, unchanged.
func TestExampleHelloWorldTemplate(t *testing.T) {
	ref := compileExample(t, "hello-world-do-template/src/index.ts")
	st := newSQLState(t, "obj")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := newTestEngine(t, Config{}).RPC(ctx, ref, st.object, "sayHello", nil, st, st.rpcCommit)
	if err != nil || string(res.Value) != `"Hello, World!"` {
		t.Fatalf("sayHello = %v, %v", res, err)
	}
}

// TestSQLDocsExample: the SQL Storage page's example, its table made in
// the constructor by one exec of two statements, then iterated.
func TestSQLDocsExample(t *testing.T) {
	st := newSQLState(t, "obj")
	ref := ClassRef{Name: "MyDurableObject", Version: 1, Program: mustCompile(t, "MyDurableObject", `
import { DurableObject } from "cloudflare:workers";
export class MyDurableObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`+"`"+`CREATE TABLE IF NOT EXISTS artist(
      artistid    INTEGER PRIMARY KEY,
      artistname  TEXT
    );INSERT INTO artist (artistid, artistname) VALUES
      (123, 'Alice'),
      (456, 'Bob'),
      (789, 'Charlie');`+"`"+`
    );
  }
  async fetch(request) {
    let result = "";
    for (let row of this.sql.exec("SELECT * FROM artist;")) result += row.artistid + ": " + row.artistname + "\n";
    return new Response(result);
  }
}`)}
	got, err := callSQL(t, newTestEngine(t, Config{}), ref, st, "/")
	if want := "123: Alice\n456: Bob\n789: Charlie\n"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if rows := st.query("SELECT count(*) FROM artist"); rows[0][0] != int64(3) {
		t.Fatalf("committed %v rows", rows)
	}
	st.replicasAgree()
}

// TestSQLInAlarm: an alarm handler of a SQLite-backed object writes SQL,
// committed with the alarm's own deletion.
func TestSQLInAlarm(t *testing.T) {
	st := newSQLState(t, "obj")
	st.fakeState.alarm, st.fakeState.hasAl = 5, true
	ref := ClassRef{Name: "A", Version: 1, Program: mustCompile(t, "A", `
import { DurableObject } from "cloudflare:workers";
export class A extends DurableObject {
  alarm(info) {
    this.ctx.storage.sql.exec("CREATE TABLE fired (retry INTEGER); INSERT INTO fired VALUES (?)", info.retryCount);
  }
}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := newTestEngine(t, Config{}).Alarm(ctx, ref, st.object, AlarmInfo{RetryCount: 2, IsRetry: true}, st, st.rpcCommit)
	st.abort()
	if err != nil {
		t.Fatal(err)
	}
	if rows := st.query("SELECT retry FROM fired"); len(rows) != 1 || rows[0][0] != int64(2) {
		t.Fatalf("rows %v", rows)
	}
	if _, ok := st.Alarm(); ok {
		t.Error("the alarm is still set after it ran")
	}
	st.replicasAgree()
}

// uncomparable is a session value == cannot compare.
type uncomparable struct {
	SQLSession
	_ []int
}

func TestSameSession(t *testing.T) {
	a, b := &sqlstore.Session{}, &sqlstore.Session{}
	if !sameSession(a, a) || sameSession(a, b) {
		t.Fatal("sameSession of pointers")
	}
	if !sameSession(uncomparable{SQLSession: a}, uncomparable{SQLSession: a}) {
		t.Fatal("sameSession of values it cannot compare: want true (it cannot tell)")
	}
}
