package project

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// exampleDir is the seed's application, as its author wrote it.
const exampleDir = "../examples/hono-counter"

// nodeTools returns the paths of node and npm, installing Debian's nodejs
// and npm with apt-get when they are missing, as the browser test installs
// chromium. Where they cannot be had the test is skipped, saying why — or
// fails under CI=true, where a skip would hide a missing install step.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	find := func() (string, string, bool) {
		n, err1 := exec.LookPath("node")
		if err1 != nil {
			n, err1 = exec.LookPath("nodejs")
		}
		m, err2 := exec.LookPath("npm")
		return n, m, err1 == nil && err2 == nil
	}
	if n, m, ok := find(); ok {
		return n, m
	}
	unavailable := func(why string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are missing: "+why, args...)
		}
		t.Skipf("example test skipped: node and npm are missing: "+why, args...)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		unavailable("there is no apt-get to install them")
	}
	if os.Geteuid() != 0 {
		unavailable("installing them with apt-get needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "nodejs", "npm"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			unavailable("apt-get %s failed (%v): %s", strings.Join(args, " "), err, lastLines(string(out), 5))
		}
	}
	n, m, ok := find()
	if !ok {
		unavailable("apt-get installed nodejs and npm but they are not on PATH")
	}
	return n, m
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// installed is the copy of the example in which npm installed its
// packages, made once for the package's tests and removed by TestMain.
var installed struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if installed.dir != "" {
		os.RemoveAll(installed.dir)
	}
	os.Exit(code)
}

// honoCounter loads the example: in place when its packages are installed,
// else from a copy in which npm installs them (writing no lock file).
func honoCounter(t *testing.T) *Config {
	t.Helper()
	_, npm := nodeTools(t)
	dir := exampleDir
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hono")); err != nil {
		installed.once.Do(func() { installed.dir, installed.err = npmInstall(npm) })
		if installed.err != nil {
			t.Fatal(installed.err)
		}
		dir = installed.dir
	}
	c, err := Load(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// npmInstall copies the example into a new directory and runs npm install
// there.
func npmInstall(npm string) (string, error) {
	dir, err := os.MkdirTemp("", "hono-counter-")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dir, os.DirFS(exampleDir)); err != nil {
		return dir, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("npm install in a copy of %s: %v\n%s", exampleDir, err, lastLines(string(out), 20))
	}
	return dir, nil
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
	node, _ := nodeTools(t)
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
