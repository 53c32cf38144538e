package project

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var today = time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)

// writeProject writes files (path -> contents) into a new directory,
// with an empty src/index.ts unless files gives one, and returns it.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["src/index.ts"]; !ok {
		files["src/index.ts"] = "export default {}\n"
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fullTOML = `name = "shop"
main = "src/index.ts"
compatibility_date = "2025-04-01"
compatibility_flags = ["nodejs_compat"]
routes = ["shop.example.com/*", { pattern = "api.example.com", custom_domain = true }]

[vars]
GREETING = "hello"
LIMITS = { max = 5 }

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "RATES"
class_name = "RateLimiter"
script_name = "limits"

[[migrations]]
tag = "v1"
new_classes = ["Old"]
new_sqlite_classes = ["Counter"]

[[migrations]]
tag = "v2"
renamed_classes = [{ from = "Old", to = "Newer" }]

[[migrations]]
tag = "v3"
new_classes = ["Gone"]

[[migrations]]
tag = "v4"
deleted_classes = ["Gone"]

[[services]]
binding = "AUTH"
service = "auth-worker"
entrypoint = "AuthEntrypoint"
`

const fullJSONC = `// the same project as fullTOML
{
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "shop",
  "main": "src/index.ts",
  "compatibility_date": "2025-04-01",
  "compatibility_flags": ["nodejs_compat",],
  "routes": ["shop.example.com/*", {"pattern": "api.example.com", "custom_domain": true}],
  /* plain-text variables */
  "vars": {"GREETING": "hello", "LIMITS": {"max": 5}},
  "durable_objects": {
    "bindings": [
      {"name": "COUNTER", "class_name": "Counter"},
      {"name": "RATES", "class_name": "RateLimiter", "script_name": "limits"}, // trailing comma
    ],
  },
  "migrations": [
    {"tag": "v1", "new_classes": ["Old"], "new_sqlite_classes": ["Counter"]},
    {"tag": "v2", "renamed_classes": [{"from": "Old", "to": "Newer"}]},
    {"tag": "v3", "new_classes": ["Gone"]},
    {"tag": "v4", "deleted_classes": ["Gone"]},
  ],
  "services": [{"binding": "AUTH", "service": "auth-worker", "entrypoint": "AuthEntrypoint"}],
  "observability": {"enabled": true},
}
`

func TestLoadFull(t *testing.T) {
	for _, file := range []string{"wrangler.toml", "wrangler.jsonc", "wrangler.json"} {
		t.Run(file, func(t *testing.T) {
			body := fullTOML
			if file != "wrangler.toml" {
				body = fullJSONC
			}
			dir := writeProject(t, map[string]string{file: body})
			c, err := Load(dir, today)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != filepath.Join(dir, file) || c.Dir != dir {
				t.Errorf("File, Dir = %s, %s", c.File, c.Dir)
			}
			if c.Name != "shop" || c.Main != filepath.Join(dir, "src", "index.ts") || c.CompatibilityDate != "2025-04-01" {
				t.Errorf("name, main, date = %q, %q, %q", c.Name, c.Main, c.CompatibilityDate)
			}
			if !reflect.DeepEqual(c.CompatibilityFlags, []string{"nodejs_compat"}) {
				t.Errorf("flags = %v", c.CompatibilityFlags)
			}
			if c.Vars["GREETING"] != "hello" || c.Vars["LIMITS"].(map[string]any)["max"] == nil {
				t.Errorf("vars = %#v", c.Vars)
			}
			wantDO := []DurableObjectBinding{{Name: "COUNTER", ClassName: "Counter"}, {Name: "RATES", ClassName: "RateLimiter", ScriptName: "limits"}}
			if !reflect.DeepEqual(c.DurableObjects, wantDO) {
				t.Errorf("bindings = %+v", c.DurableObjects)
			}
			if len(c.Migrations) != 4 || !reflect.DeepEqual(c.Migrations[1].RenamedClasses, []RenamedClass{{From: "Old", To: "Newer"}}) ||
				!reflect.DeepEqual(c.Migrations[0].NewSQLiteClasses, []string{"Counter"}) {
				t.Errorf("migrations = %+v", c.Migrations)
			}
			wantSvc := []ServiceBinding{{Binding: "AUTH", Service: "auth-worker", Entrypoint: "AuthEntrypoint"}}
			if !reflect.DeepEqual(c.Services, wantSvc) {
				t.Errorf("services = %+v", c.Services)
			}
			wantRoutes := []Route{{Pattern: "shop.example.com/*"}, {Pattern: "api.example.com", CustomDomain: true}}
			if !reflect.DeepEqual(c.Routes, wantRoutes) {
				t.Errorf("routes = %+v", c.Routes)
			}
			wantClasses := []Class{
				{Name: "Newer", CreatedAs: "Old", Tag: "v1"},
				{Name: "Counter", SQLite: true, CreatedAs: "Counter", Tag: "v1"},
			}
			if got := c.Classes(); !reflect.DeepEqual(got, wantClasses) {
				t.Errorf("Classes() = %+v, want %+v", got, wantClasses)
			}
		})
	}
}

func TestLoadWarnsOfIgnoredFields(t *testing.T) {
	dir := writeProject(t, map[string]string{"wrangler.jsonc": fullJSONC})
	c, err := Load(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		c.File + ":3: $schema: accepted and ignored by dobj",
		c.File + ":24: observability: accepted and ignored by dobj",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Fatalf("warnings = %q, want %q", c.Warnings, want)
	}
}

func TestLoadPrefersTOMLThenJSON(t *testing.T) {
	files := map[string]string{
		"wrangler.toml":  "name = \"from-toml\"\nmain = \"src/index.ts\"\n",
		"wrangler.json":  `{"name": "from-json", "main": "src/index.ts"}`,
		"wrangler.jsonc": `{"name": "from-jsonc", "main": "src/index.ts"}`,
	}
	for _, drop := range []string{"", "wrangler.toml", "wrangler.json"} {
		if drop != "" {
			delete(files, drop)
		}
		dir := writeProject(t, files)
		c, err := Load(dir, today)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"": "from-toml", "wrangler.toml": "from-json", "wrangler.json": "from-jsonc"}[drop]
		if c.Name != want {
			t.Errorf("without %q: loaded %s, want %s", drop, c.Name, want)
		}
	}
}

func TestLoadDefaultsCompatibilityDateToToday(t *testing.T) {
	dir := writeProject(t, map[string]string{"wrangler.toml": "name = \"a\"\nmain = \"src/index.ts\"\n"})
	c, err := Load(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	if c.CompatibilityDate != "2026-12-07" {
		t.Fatalf("compatibility_date = %q, want the day passed in", c.CompatibilityDate)
	}
	if c.Routes != nil || c.Warnings != nil || c.Classes() != nil {
		t.Fatalf("a minimal project has routes %v, warnings %v, classes %v", c.Routes, c.Warnings, c.Classes())
	}
}

func TestLoadSingleRoute(t *testing.T) {
	for name, body := range map[string]string{
		"string": "name = \"a\"\nmain = \"src/index.ts\"\nroute = \"a.example.com/*\"\n",
		"table":  "name = \"a\"\nmain = \"src/index.ts\"\nroute = { pattern = \"a.example.com/*\", zone_name = \"example.com\" }\n",
	} {
		dir := writeProject(t, map[string]string{"wrangler.toml": body})
		c, err := Load(dir, today)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := Route{Pattern: "a.example.com/*"}
		if name == "table" {
			want.ZoneName = "example.com"
		}
		if !reflect.DeepEqual(c.Routes, []Route{want}) {
			t.Errorf("%s: routes = %+v", name, c.Routes)
		}
	}
}

func TestLoadNoConfig(t *testing.T) {
	_, err := Load(t.TempDir(), today)
	if !errors.Is(err, ErrNoConfig) {
		t.Fatalf("err = %v, want ErrNoConfig", err)
	}
}
