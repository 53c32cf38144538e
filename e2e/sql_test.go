package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// sqlProject is a Worker and a SQLite-backed class whose SQL is the
// Cloudflare documentation's: a table made in the constructor, rows
// inserted with bindings, random() and CURRENT_TIMESTAMP, a cursor read
// back.
const sqlProject = `
import { DurableObject } from "cloudflare:workers";
export class Artists extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS artist (artistid INTEGER PRIMARY KEY, artistname TEXT, lucky INTEGER, at TEXT DEFAULT CURRENT_TIMESTAMP)");
  }
  add(name) {
    this.sql.exec("INSERT INTO artist (artistname, lucky) VALUES (?, random())", name);
    return this.sql.exec("SELECT artistname FROM artist ORDER BY artistid").toArray().map((r) => r.artistname);
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.ARTISTS.get(env.ARTISTS.idFromName(url.pathname));
    return Response.json(await stub.add(url.searchParams.get("name")));
  },
};
`

// TestSQLThroughAWorker: a project's SQLite-backed class, called through
// the Worker listener of every node, keeps its rows in one database on
// every node's disk (under the data directory's sql/), identical: the
// nodes' digests, which cover the databases, agree.
func TestSQLThroughAWorker(t *testing.T) {
	c := newExampleCluster(t)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"wrangler.toml": "name = \"artists\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-04-01\"\n\n" +
			"[[durable_objects.bindings]]\nname = \"ARTISTS\"\nclass_name = \"Artists\"\n\n" +
			"[[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"Artists\"]\n",
		"src/index.js": sqlProject,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.deployExample(dir)
	var got []string
	r := c.firstRequest(http.MethodGet, c.workers[0]+"/band?name=Alice", "")
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || len(got) != 1 || got[0] != "Alice" {
		t.Fatalf("first add: %s", r)
	}
	for i, name := range []string{"Bob", "Charlie"} {
		w := c.workers[i+1]
		r := c.worker(http.MethodGet, w+"/band?name="+name, "", nil)
		if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || len(got) != i+2 || got[i+1] != name {
			t.Fatalf("add %s via %s: %s", name, w, r)
		}
	}
	c.sameDigest()
	for _, nd := range c.nodes {
		dbs, err := filepath.Glob(filepath.Join(nd.dataDir, "sql", "*.db"))
		if err != nil || len(dbs) != 1 {
			t.Fatalf("%s keeps databases %v (%v), want the object's one", nd.id, dbs, err)
		}
		// Its metrics count the database open and the one open so far.
		m := c.scrape(nd)
		if open, opens := metricValue(m, "dobj_sql_databases_open"), metricValue(m, "dobj_sql_database_opens_total"); open != 1 || opens != 1 {
			t.Errorf("%s: dobj_sql_databases_open %v, dobj_sql_database_opens_total %v; want 1 and 1", nd.id, open, opens)
		}
		// and its memory: one WebAssembly SQLite, some hundreds of KiB.
		if b := metricValue(m, "dobj_sql_databases_open_bytes"); b < 64<<10 || b > 64<<20 {
			t.Errorf("%s: dobj_sql_databases_open_bytes %v for one small database", nd.id, b)
		}
	}
}

// kvKeys counts the key-value pairs the SQLite-backed objects of nd hold:
// the rows of _cf_KV in each database under its data directory's sql/,
// read from this process while the node runs. The node's connection
// locks each file (locking_mode=EXCLUSIVE), so the file and its log are
// copied and the copy read: a copy taken in the middle of a commit may
// fail to read or read short, which the callers' polling waits out.
func kvKeys(nd *node) (int, error) {
	dbs, err := filepath.Glob(filepath.Join(nd.dataDir, "sql", "*.db"))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, db := range dbs {
		n, err := kvKeysOfCopy(db)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// kvKeysOfCopy counts the rows of _cf_KV in a copy of the database file
// db and its log.
func kvKeysOfCopy(db string) (int, error) {
	dir, err := os.MkdirTemp("", "kvkeys-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, "copy.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(db + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(cp+suffix, b, 0o644); err != nil {
			return 0, err
		}
	}
	return kvKeysOf(cp)
}

// kvKeysOf counts the rows of _cf_KV in the database file db.
func kvKeysOf(db string) (int, error) {
	c, err := sqlite3.OpenFlags(db, sqlite3.OPEN_READWRITE)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	st, _, err := c.Prepare("SELECT count(*) FROM _cf_KV")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt(0), nil
}
