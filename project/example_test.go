package project

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/project/projecttest"
)

// exampleDir is the seed's application, as its author wrote it.
const exampleDir = "../examples/hono-counter"

// installed is the example with its packages installed, shared by the
// package's tests and removed by TestMain.
var installed projecttest.Installed

func TestMain(m *testing.M) {
	code := m.Run()
	installed.Remove()
	os.Exit(code)
}

// honoCounter loads the example: in place when its packages are installed,
// else from a copy in which npm installs them.
func honoCounter(t *testing.T) *Config {
	t.Helper()
	c, err := Load(installed.Dir(t, exampleDir, "hono"), today)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHonoCounterExample(t *testing.T) {
	c := honoCounter(t)
	if c.Name != "hono-counter" || c.CompatibilityDate != "2025-04-01" || len(c.Warnings) != 0 {
		t.Errorf("name %q, date %q, warnings %q", c.Name, c.CompatibilityDate, c.Warnings)
	}
	if want := []DurableObjectBinding{{Name: "COUNTER", ClassName: "Counter"}}; !reflect.DeepEqual(c.DurableObjects, want) {
		t.Errorf("bindings = %+v", c.DurableObjects)
	}
	if want := []Class{{Name: "Counter", SQLite: true, CreatedAs: "Counter", Tag: "v1"}}; !reflect.DeepEqual(c.Classes(), want) {
		t.Errorf("classes = %+v", c.Classes())
	}
	s, err := Bundle(c, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Counter", "default"}; !reflect.DeepEqual(s.Exports, want) {
		t.Errorf("exports = %v, want %v", s.Exports, want)
	}
	hono := false
	for _, in := range s.Inputs {
		hono = hono || strings.HasPrefix(in, "node_modules/hono/")
	}
	if !hono || !strings.Contains(string(s.Code), `from "cloudflare:workers"`) {
		t.Errorf("the bundle should hold hono (inputs %v) and import cloudflare:workers", s.Inputs)
	}
}

// honoHarness runs the bundled Worker in node against an env whose
// COUNTER namespace hands out Counter instances with in-memory storage,
// and prints each response.
const honoHarness = `import app, { Counter } from "./bundle.mjs";
class Storage {
  #m = new Map();
  async get(k) { return this.#m.get(k); }
  async put(k, v) { this.#m.set(k, v); }
}
const objects = new Map();
const env = {
  COUNTER: {
    idFromName(name) { return { name }; },
    get(id) {
      if (!objects.has(id.name)) objects.set(id.name, new Counter({ storage: new Storage() }, env));
      return objects.get(id.name);
    },
  },
};
const out = [];
for (const [method, path] of [
  ["POST", "/card-1/increment"], ["POST", "/card-1/increment?by=5"], ["POST", "/card-1/decrement"],
  ["POST", "/card-1/decrement?by=2"], ["GET", "/card-1"], ["GET", "/card-2"], ["POST", "/card-1/increment?by=x"],
]) {
  const res = await app.fetch(new Request("http://worker" + path, { method }), env);
  out.push(res.status + " " + (await res.text()));
}
console.log(JSON.stringify(out));
`

// TestHonoCounterRunsInNode checks that the bundle is the application: its
// routes reach the Counter's RPC methods and answer as the seed does.
func TestHonoCounterRunsInNode(t *testing.T) {
	c := honoCounter(t)
	node, _ := projecttest.NodeTools(t)
	s, err := Bundle(c, BundleOptions{Builtins: map[string]string{
		"cloudflare:workers": "export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }",
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range map[string][]byte{"bundle.mjs": s.Code, "run.mjs": []byte(honoHarness)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, fs.FileMode(0o644)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.mjs: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	want := []string{
		`200 {"name":"card-1","value":1}`,
		`200 {"name":"card-1","value":6}`,
		`200 {"name":"card-1","value":5}`,
		`200 {"name":"card-1","value":3}`,
		`200 {"name":"card-1","value":3}`,
		`200 {"name":"card-2","value":0}`,
		`400 {"error":"by must be an integer"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("responses:\n got %q\nwant %q", got, want)
	}
}
