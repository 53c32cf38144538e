package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/apitypes"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
)

const sqlApp = `
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  add(text, blob) {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT, data BLOB, score REAL)");
    return sql.exec("INSERT INTO notes (text, data, score) VALUES (?, ?, 1.5) RETURNING id", text, new Uint8Array(blob).buffer).one().id;
  }
}
export class Plain extends DurableObject {
  async touch() { await this.ctx.storage.put("k", 1); return 1; }
}
export default { fetch() { return new Response("worker"); } };
`

// TestSQLQueryRoute: an operator reads an SQLite-backed object's rows
// with a query and its bindings; a write, a bad statement, a class that
// is not SQLite-backed and an object with no database are refused, and
// nothing the query did stays.
func TestSQLQueryRoute(t *testing.T) {
	n := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", n.node.Ready)
	_, err := n.node.DeployScript(context.Background(), &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(sqlApp)}},
		DurableObjects: []fsm.DOBinding{{Name: "NOTES", Class: "Notes"}, {Name: "PLAIN", Class: "Plain"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Notes"}, NewClasses: []string{"Plain"}}}})
	if err != nil {
		t.Fatal(err)
	}
	base := n.url + "/_scripts/app/objects/Notes/n-1"
	for i, text := range []string{"first", "second", "third"} {
		code, body := call(t, http.MethodPost, base+"/rpc/add", []byte(`["`+text+`", [0, 255]]`), nil)
		if code != 200 || string(body) != string(rune('1'+i)) {
			t.Fatalf("add %s = %d %s", text, code, body)
		}
	}
	query := func(q string) (int, string) {
		t.Helper()
		code, body := call(t, http.MethodPost, base+"/sql", []byte(q), nil)
		return code, string(body)
	}
	code, body := query(`{"query": "SELECT id, text, data, score, NULL AS none FROM notes WHERE id >= ? ORDER BY id", "params": [2]}`)
	var res apitypes.SQLResult
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("query = %d %s", code, body)
	}
	rows, _ := json.Marshal(res.Rows)
	if strings.Join(res.Columns, ",") != "id,text,data,score,none" || res.More || res.RowsRead < 2 ||
		string(rows) != `[[2,"second",{"blob":"AP8="},1.5,null],[3,"third",{"blob":"AP8="},1.5,null]]` {
		t.Fatalf("query answered %s", body)
	}
	if code, body := query(`{"query": "SELECT id FROM notes WHERE text = ? OR data = ? ORDER BY id", "params": ["first", {"blob": "AP8="}], "limit": 2}`); code != 200 ||
		!strings.Contains(body, `"rows":[[1],[2]]`) || !strings.Contains(body, `"more":true`) {
		t.Fatalf("blob binding and limit: %d %s", code, body)
	}
	for _, tt := range []struct {
		url, body string
		code      int
		detail    string
	}{
		{base + "/sql", `{"query": "DELETE FROM notes"}`, 400, "read-only"},
		{base + "/sql", `{"query": "UPDATE notes SET text = 'x' RETURNING id"}`, 400, "read-only"},
		{base + "/sql", `{"query": "SELECT * FROM _cf_KV"}`, 400, "_cf_"},
		{base + "/sql", `{"query": "SELEKT 1"}`, 400, "syntax error"},
		{base + "/sql", `{"query": "SELECT ?", "params": [[1]]}`, 400, "params[0]"},
		{base + "/sql", `{"sql": "SELECT 1"}`, 400, "query"},
		{n.url + "/_scripts/app/objects/Plain/p-1/sql", `{"query": "SELECT 1"}`, 400, "not SQLite-backed"},
		{n.url + "/_scripts/app/objects/Notes/never-written/sql", `{"query": "SELECT 1"}`, 404, "no SQL database"},
		{n.url + "/_scripts/app/objects/Nope/x/sql", `{"query": "SELECT 1"}`, 404, "Nope"},
	} {
		code, body := call(t, http.MethodPost, tt.url, []byte(tt.body), nil)
		var p struct{ Detail string }
		json.Unmarshal(body, &p)
		if code != tt.code || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s %s = %d %s; want %d %q", tt.url, tt.body, code, body, tt.code, tt.detail)
		}
	}
	if code, body := query(`{"query": "SELECT count(*) FROM notes"}`); code != 200 || !strings.Contains(body, `"rows":[[3]]`) {
		t.Fatalf("after the refused writes: %d %s", code, body)
	}

	// The console's routes: the object listed by its FSM name, and
	// queried by it.
	code, raw := call(t, http.MethodGet, n.url+"/_sql/objects?prefix=_do/app:", nil, nil)
	var page struct {
		Objects []struct {
			Object, Class, ID string
			Bytes             int64
		}
		More bool
	}
	if code != 200 || json.Unmarshal(raw, &page) != nil || len(page.Objects) != 1 || page.More {
		t.Fatalf("GET /_sql/objects = %d %s", code, raw)
	}
	o := page.Objects[0]
	if o.Class != "app:Notes" || len(o.ID) != 64 || o.Object != "_do/app:Notes/"+o.ID || o.Bytes < 4096 {
		t.Fatalf("listed %+v", o)
	}
	if code, body := call(t, http.MethodGet, n.url+"/_sql/objects?start_after="+o.Object, nil, nil); code != 200 || string(body) != `{"objects":[],"more":false}`+"\n" {
		t.Fatalf("past the last object: %d %s", code, body)
	}
	code, raw = call(t, http.MethodPost, n.url+"/_sql/query", []byte(`{"object": "`+o.Object+`", "query": "SELECT text FROM notes ORDER BY id DESC", "limit": 1}`), nil)
	if code != 200 || !strings.Contains(string(raw), `"rows":[["third"]]`) || !strings.Contains(string(raw), `"more":true`) {
		t.Fatalf("POST /_sql/query = %d %s", code, raw)
	}
	for _, bad := range []string{`{"query": "SELECT 1"}`, `{"object": "card-1", "query": "SELECT 1"}`} {
		if code, body := call(t, http.MethodPost, n.url+"/_sql/query", []byte(bad), nil); code != 400 {
			t.Errorf("POST /_sql/query %s = %d %s; want 400", bad, code, body)
		}
	}
}

// TestSQLQueryResultLimit: a query whose first row alone is over the
// node's result size limit (--sql-max-result-bytes) is a 400 that names
// the limit, on both operator routes, where a long answer of small rows
// stops before the limit and says there is more.
func TestSQLQueryResultLimit(t *testing.T) {
	n := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}},
		func(c *cluster.Config) { c.SQLMaxResultBytes = 64 << 10 })
	eventually(t, 10*time.Second, "n1 ready", n.node.Ready)
	_, err := n.node.DeployScript(context.Background(), &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(sqlApp)}},
		DurableObjects: []fsm.DOBinding{{Name: "NOTES", Class: "Notes"}, {Name: "PLAIN", Class: "Plain"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Notes"}, NewClasses: []string{"Plain"}}}})
	if err != nil {
		t.Fatal(err)
	}
	base := n.url + "/_scripts/app/objects/Notes/n-1"
	if code, body := call(t, http.MethodPost, base+"/rpc/add", []byte(`["first", [1]]`), nil); code != 200 {
		t.Fatalf("add = %d %s", code, body)
	}
	const big = `"SELECT randomblob(40000) AS a, randomblob(40000) AS b FROM notes"`
	code, raw := call(t, http.MethodGet, n.url+"/_sql/objects?prefix=_do/app:", nil, nil)
	var page struct{ Objects []struct{ Object string } }
	if code != 200 || json.Unmarshal(raw, &page) != nil || len(page.Objects) != 1 {
		t.Fatalf("GET /_sql/objects = %d %s", code, raw)
	}
	object := page.Objects[0].Object
	for url, body := range map[string]string{
		base + "/sql":         `{"query": ` + big + `}`,
		n.url + "/_sql/query": `{"object": "` + object + `", "query": ` + big + `}`,
	} {
		code, raw := call(t, http.MethodPost, url, []byte(body), nil)
		var p struct{ Detail string }
		json.Unmarshal(raw, &p)
		if code != 400 || !strings.Contains(p.Detail, "result size limit of 65536 bytes") {
			t.Errorf("%s %s = %d %.300s; want 400 naming the result size limit", url, body, code, raw)
		}
	}
	code, raw = call(t, http.MethodPost, base+"/sql", []byte(`{"query": "SELECT randomblob(30000) FROM generate_series(1, 300)"}`), nil)
	var res apitypes.SQLResult
	if code != 200 || json.Unmarshal(raw, &res) != nil || !res.More || len(res.Rows) != 2 {
		t.Fatalf("many small rows = %d, %d rows, more %v; want 200, 2 rows (60,000 bytes of 65,536) and more", code, len(res.Rows), res.More)
	}
}

// TestSQLQueryThroughAFollower: a query through a follower sees every
// write acknowledged before it began, as the follower's other reads do
// (with ?consistency=stale it soon answers from behind).
func TestSQLQueryThroughAFollower(t *testing.T) {
	n1 := startStackNode(t, "n1", []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}})
	eventually(t, 10*time.Second, "n1 ready", n1.node.Ready)
	n2 := startStackNode(t, "n2", nil)
	joinStack(t, n1, n2)
	eventually(t, 10*time.Second, "n2 ready", n2.node.Ready)
	_, err := n1.node.DeployScript(context.Background(), &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte(sqlApp)}},
		DurableObjects: []fsm.DOBinding{{Name: "NOTES", Class: "Notes"}, {Name: "PLAIN", Class: "Plain"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Notes"}, NewClasses: []string{"Plain"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		// A 503 (a leader election under load) applied nothing: send
		// the add again. A 504 could have added a note: a failure.
		code, b := call(t, http.MethodPost, n1.url+"/_scripts/app/objects/Notes/n-1/rpc/add", []byte(`["x", []]`), nil)
		for deadline := time.Now().Add(15 * time.Second); code == 503 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			code, b = call(t, http.MethodPost, n1.url+"/_scripts/app/objects/Notes/n-1/rpc/add", []byte(`["x", []]`), nil)
		}
		if code != 200 {
			t.Fatalf("add %d: %d %s", i, code, b)
		}
		code, b = callSafely(t, http.MethodPost, n2.url+"/_scripts/app/objects/Notes/n-1/sql", []byte(`{"query": "SELECT count(*) FROM notes"}`), nil)
		if want := `"rows":[[` + strconv.Itoa(i) + `]]`; code != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("after add %d the follower answered %d %s; want %s", i, code, b, want)
		}
	}
}
