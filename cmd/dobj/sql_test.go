package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sqlProject = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(by: number = 1): Promise<number> {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS hits (name TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    return sql.exec("INSERT INTO hits VALUES ('a b', ?) ON CONFLICT (name) DO UPDATE SET n = n + excluded.n RETURNING n", by).one().n as number;
  }
}
export default { async fetch(): Promise<Response> { return new Response("ok"); } };
`

// TestSQLVerb: dobj sql prints an SQLite-backed object's rows under
// their columns, takes JSON bindings, prints the answer's JSON with
// --json, and says why a write is refused.
func TestSQLVerb(t *testing.T) {
	url, _ := startServe(t, io.Discard)
	env := getenvOf(map[string]string{"DOBJ_URL": url})
	dir := writeProject(t, goodToml)
	if err := os.WriteFile(filepath.Join(dir, "src", "index.ts"), []byte(sqlProject), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	ctx := context.Background()
	if err := run(ctx, []string{"deploy"}, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if err := run(ctx, []string{"rpc", "small", "Counter", "c1", "increment", "5"}, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("rpc: %v", err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"sql", "small", "Counter", "c1", "SELECT name, n, NULL AS z FROM hits WHERE n > ?", "1"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if want := "name  n  z\na b   5  NULL\n"; out.String() != want || !strings.Contains(errOut.String(), "1 row,") {
		t.Fatalf("dobj sql printed %q (stderr %q); want %q", out.String(), errOut.String(), want)
	}
	out.Reset()
	if err := run(ctx, []string{"sql", "--json", "small", "Counter", "c1", "SELECT n FROM hits"}, env, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), `"rows": [`) || !strings.Contains(out.String(), `"columns": [`) {
		t.Fatalf("dobj sql --json: %q, %v", out.String(), err)
	}
	err := run(ctx, []string{"sql", "small", "Counter", "c1", "DELETE FROM hits"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a write: %v", err)
	}
	if err := run(ctx, []string{"sql", "small", "Counter", "c1", "SELECT ?", "five"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("a bad binding: %v", err)
	}
}
