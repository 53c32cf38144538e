package project

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// counterProject is a small project with TypeScript, a relative import, a
// package in node_modules and cloudflare:workers.
func counterProject(t *testing.T, toml string) *Config {
	t.Helper()
	dir := writeProject(t, map[string]string{
		"wrangler.toml": toml,
		"src/index.ts": `import { DurableObject } from "cloudflare:workers";
import { double } from "./util";
import { greet } from "greet";

export class Counter extends DurableObject {
	private n: number = 0;
	increment(by: number = 1): number { this.n += double(by); return this.n; }
	hello(): string { return greet(this.env.WHO); }
}

class Hidden {}

export default {
	async fetch(request: Request, env: any): Promise<Response> { return new Response("ok"); },
};
`,
		"src/util.ts": "export const double = (x: number): number => 2 * x;\n",
		// The package's module entry is the one a Worker bundler picks.
		"node_modules/greet/package.json": `{"name": "greet", "main": "index.cjs", "module": "index.mjs"}`,
		"node_modules/greet/index.mjs":    "export const greet = (who) => `hello, ${who}`;\n",
		"node_modules/greet/index.cjs":    "exports.greet = () => 'wrong entry';\n",
	})
	c, err := Load(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const counterTOML = head + `
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "OTHER"
class_name = "Elsewhere"
script_name = "other"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
`

func TestBundleESM(t *testing.T) {
	c := counterProject(t, counterTOML)
	s, err := Bundle(c, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != ESM {
		t.Errorf("format = %s", s.Format)
	}
	if want := []string{"Counter", "default"}; !reflect.DeepEqual(s.Exports, want) {
		t.Errorf("exports = %v, want %v", s.Exports, want)
	}
	if want := []string{"node_modules/greet/index.mjs", "src/index.ts", "src/util.ts"}; !reflect.DeepEqual(s.Inputs, want) {
		t.Errorf("inputs = %v, want %v", s.Inputs, want)
	}
	code := string(s.Code)
	for _, want := range []string{`from "cloudflare:workers"`, "hello, ", "export {"} {
		if !strings.Contains(code, want) {
			t.Errorf("bundle lacks %q:\n%s", want, code)
		}
	}
	for _, bad := range []string{"wrong entry", "private n", ": number"} {
		if strings.Contains(code, bad) {
			t.Errorf("bundle holds %q:\n%s", bad, code)
		}
	}
}

// TestBundleIIFERuns loads an IIFE bundle in goja, with cloudflare:workers
// supplied as a builtin, and calls the class.
func TestBundleIIFERuns(t *testing.T) {
	c := counterProject(t, counterTOML)
	s, err := Bundle(c, BundleOptions{
		Format:     IIFE,
		GlobalName: "__mod",
		Builtins: map[string]string{"cloudflare:workers": `export class DurableObject {
			constructor(ctx, env) { this.ctx = ctx; this.env = env; } }`},
		SourceMap: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != IIFE || !reflect.DeepEqual(s.Exports, []string{"Counter", "default"}) {
		t.Fatalf("format %s, exports %v", s.Format, s.Exports)
	}
	if !strings.Contains(string(s.Code), "sourceMappingURL=data:") {
		t.Errorf("no inline source map")
	}
	rt := goja.New()
	if _, err := rt.RunString(string(s.Code)); err != nil {
		t.Fatalf("run bundle: %v", err)
	}
	got, err := rt.RunString(`const c = new __mod.Counter({}, {WHO: "dobj"}); c.increment(); c.increment(2) + " " + c.hello() + " " + typeof __mod.default.fetch`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "6 hello, dobj function"; got.String() != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBundleOptionsRefused(t *testing.T) {
	c := counterProject(t, counterTOML)
	if _, err := Bundle(c, BundleOptions{Format: IIFE}); err == nil || !strings.Contains(err.Error(), "global name") {
		t.Errorf("iife without a global name: %v", err)
	}
	if _, err := Bundle(c, BundleOptions{Format: "cjs"}); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("cjs: %v", err)
	}
}

func TestBundleMissingExport(t *testing.T) {
	tests := []struct {
		name, toml string
		line       int
		field, msg string
	}{
		{"bound class declared but not exported", head + "\n[[durable_objects.bindings]]\nname = \"H\"\nclass_name = \"Hidden\"\n", 6,
			"durable_objects.bindings[0].class_name", "class Hidden is not exported by src/index.ts (it exports Counter, default)"},
		{"migration's class", head + "[[migrations]]\ntag = \"v1\"\nnew_classes = [\"Counter\", \"Gone\"]\n", 5,
			"migrations[0].new_classes[1]", "class Gone is not exported"},
		{"renamed class", head + "[[migrations]]\ntag = \"v1\"\nnew_classes = [\"Counter\", \"Old\"]\n[[migrations]]\ntag = \"v2\"\nrenamed_classes = [\n  { from = \"Old\", to = \"New\" },\n]\n", 9,
			"migrations[1].renamed_classes[0].to", "class New is not exported"},
		{"entrypoint of a service binding to itself", head + "[[services]]\nbinding = \"SELF\"\nservice = \"a\"\nentrypoint = \"Admin\"\n", 6,
			"services[0].entrypoint", "entrypoint Admin is not exported by src/index.ts (service binding SELF)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := counterProject(t, tt.toml)
			_, err := Bundle(c, BundleOptions{})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.File != c.File || ce.Line != tt.line || ce.Field != tt.field || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("error %q; want line %d field %q message containing %q", err, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestBundleSourceErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string
		line  int
		msg   string
	}{
		{"syntax error in an import", map[string]string{
			"src/index.ts": "import { f } from \"./util\";\nexport default { fetch() { return f(); } };\n",
			"src/util.ts":  "export const f = () => {\n  return 1 +;\n};\n",
		}, "src/util.ts", 2, "Unexpected"},
		{"unresolved package", map[string]string{
			"src/index.ts": "\n\nimport { Hono } from \"hono\";\nexport default new Hono();\n",
		}, "src/index.ts", 3, `Could not resolve "hono"`},
		{"type syntax", map[string]string{
			"src/index.ts": "export default {\n  fetch(r: Request): { return 1 },\n};\n",
		}, "src/index.ts", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.files["wrangler.toml"] = head
			c, err := Load(writeProject(t, tt.files), today)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Bundle(c, BundleOptions{})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.File != filepath.Join(c.Dir, filepath.FromSlash(tt.file)) || ce.Line != tt.line || ce.Column == 0 || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("error %q; want %s line %d, a column, message containing %q", err, tt.file, tt.line, tt.msg)
			}
		})
	}
}

// TestBundleDefineAndAlias: wrangler's define and alias reach esbuild.
func TestBundleDefineAndAlias(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"wrangler.toml": head + "[define]\nBUILD_MODE = '\"production\"'\n[alias]\n\"old-lib\" = \"./src/shim.ts\"\n",
		"src/index.ts":  "import { f } from \"old-lib\";\nexport default { mode: BUILD_MODE, f };\n",
		"src/shim.ts":   "export const f = () => \"from the shim\";\n",
	})
	c, err := Load(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Bundle(c, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code := string(s.Code)
	if !strings.Contains(code, `mode: "production"`) || !strings.Contains(code, "from the shim") || strings.Contains(code, "BUILD_MODE") {
		t.Fatalf("define or alias not applied:\n%s", code)
	}
}
