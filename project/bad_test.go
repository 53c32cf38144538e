package project

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const head = "name = \"a\"\nmain = \"src/index.ts\"\n"

// TestLoadBadInput checks that each fault is a *ConfigError naming the
// file, the line (where the format gives one) and the field.
func TestLoadBadInput(t *testing.T) {
	tests := []struct {
		name, file, body string
		line             int
		field, msg       string
	}{
		{"toml syntax", "wrangler.toml", head + "compatibility_date = \n", 3, "", "unexpected character"},
		{"jsonc syntax", "wrangler.jsonc", "{\n  \"name\": \"a\",\n  \"main\" \"src/index.ts\"\n}", 3, "", "invalid character"},
		{"json comment is fine but a stray brace is not", "wrangler.json", "{\"name\": \"a\", // c\n\"main\": \"src/index.ts\"}}\n", 2, "", "invalid character"},
		{"toml duplicate key", "wrangler.toml", head + "name = \"b\"\n", 3, "name", "already defined"},
		{"json duplicate member", "wrangler.json", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n\"name\": \"b\"}", 2, "name", "duplicate"},
		{"toml unknown top-level field", "wrangler.toml", head + "colour = \"red\"\n", 3, "colour", "unknown field"},
		{"toml unknown binding field", "wrangler.toml", head + "[[durable_objects.bindings]]\nname = \"C\"\nclas_name = \"Counter\"\n", 5, "durable_objects.bindings.clas_name", "unknown field"},
		{"jsonc unknown binding field", "wrangler.jsonc", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n\"durable_objects\": {\"bindings\": [\n{\"name\": \"C\",\n \"clas_name\": \"Counter\"}]}}", 4, "durable_objects.bindings[0].clas_name", "unknown field"},
		{"toml ill-typed name", "wrangler.toml", "main = \"src/index.ts\"\nname = 5\n", 2, "name", "string"},
		{"toml ill-typed date", "wrangler.toml", head + "compatibility_date = 2024-01-01\n", 3, "compatibility_date", "string"},
		{"jsonc ill-typed class", "wrangler.jsonc", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n\"durable_objects\": {\"bindings\": [\n{\"name\": \"C\",\n \"class_name\": 7}]}}", 4, "durable_objects.bindings[0].class_name", "cannot be a number (want a string)"},
		{"jsonc ill-typed migrations", "wrangler.jsonc", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n\"migrations\": {}}", 2, "migrations", "cannot be an object (want an array)"},
		{"missing main", "wrangler.toml", "name = \"a\"\n", 0, "main", "missing"},
		{"missing name", "wrangler.json", `{"main": "src/index.ts"}`, 0, "name", "missing"},
		{"bad name", "wrangler.toml", "name = \"My Worker\"\nmain = \"src/index.ts\"\n", 1, "name", "lowercase"},
		{"main absent", "wrangler.toml", "name = \"a\"\n\nmain = \"src/nope.ts\"\n", 3, "main", "src/nope.ts does not exist"},
		{"bad date", "wrangler.toml", head + "compatibility_date = \"2024-13-01\"\n", 3, "compatibility_date", "not a date"},
		{"binding without class_name (toml)", "wrangler.toml", head + "\n[[durable_objects.bindings]]\nname = \"A\"\nclass_name = \"A\"\n\n[[durable_objects.bindings]]\nname = \"COUNTER\"\n", 8, "durable_objects.bindings[1].class_name", "missing"},
		{"binding without class_name (jsonc)", "wrangler.jsonc", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n\"durable_objects\": {\"bindings\": [\n{\"name\": \"COUNTER\"}]}}", 3, "durable_objects.bindings[0].class_name", "missing"},
		{"binding without name", "wrangler.toml", head + "[[durable_objects.bindings]]\nclass_name = \"Counter\"\n", 3, "durable_objects.bindings[0].name", "missing"},
		{"binding class not an identifier", "wrangler.toml", head + "[[durable_objects.bindings]]\nname = \"C\"\nclass_name = \"my-class\"\n", 5, "durable_objects.bindings[0].class_name", "not a JavaScript class name"},
		{"duplicate binding name", "wrangler.toml", head + "[vars]\nC = \"x\"\n[[durable_objects.bindings]]\nname = \"C\"\nclass_name = \"Counter\"\n", 6, "durable_objects.bindings[0].name", "also defined by vars.C"},
		{"migration deletes a bound class", "wrangler.toml", head + `
[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_classes = ["Counter", "Other"]

[[migrations]]
tag = "v2"
deleted_classes = [
  "Other",
  "Counter",
]
`, 16, "migrations[1].deleted_classes[1]", "still binds it"},
		{"migration deletes a bound class (jsonc)", "wrangler.jsonc", `{"name": "a", "main": "src/index.ts",
  "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}]},
  "migrations": [
    {"tag": "v1", "new_classes": ["Counter"]},
    {"tag": "v2",
     "deleted_classes": ["Counter"]},
  ],
}`, 6, "migrations[1].deleted_classes[0]", "still binds it"},
		{"bound class created by no migration", "wrangler.toml", head + "[[durable_objects.bindings]]\nname = \"C\"\nclass_name = \"Counter\"\n[[migrations]]\ntag = \"v1\"\nnew_classes = [\"Other\"]\n", 5, "durable_objects.bindings[0].class_name", "created by no migration"},
		{"migration without tag", "wrangler.toml", head + "[[migrations]]\nnew_classes = [\"A\"]\n", 3, "migrations[0].tag", "missing"},
		{"repeated tag", "wrangler.toml", head + "[[migrations]]\ntag = \"v1\"\n[[migrations]]\ntag = \"v1\"\n", 6, "migrations[1].tag", "earlier migration"},
		{"class created twice", "wrangler.toml", head + "[[migrations]]\ntag = \"v1\"\nnew_classes = [\"A\"]\n[[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"A\"]\n", 8, "migrations[1].new_sqlite_classes[0]", "already exists"},
		{"rename of nothing", "wrangler.toml", head + "[[migrations]]\ntag = \"v1\"\n[[migrations.renamed_classes]]\nfrom = \"A\"\nto = \"B\"\n", 6, "migrations[0].renamed_classes[0].from", "no class"},
		{"delete of nothing", "wrangler.toml", head + "[[migrations]]\ntag = \"v1\"\ndeleted_classes = [\"A\"]\n", 5, "migrations[0].deleted_classes[0]", "no class"},
		{"service without service", "wrangler.toml", head + "[[services]]\nbinding = \"AUTH\"\n", 3, "services[0].service", "missing"},
		{"route and routes", "wrangler.toml", head + "route = \"a/*\"\nroutes = [\"b/*\"]\n", 3, "route", "not both"},
		{"route table unknown key", "wrangler.toml", head + "routes = [\n  \"a/*\",\n  { pattern = \"b/*\", zone = \"x\" },\n]\n", 5, "routes[1].zone", "unknown field"},
		{"route table ill-typed", "wrangler.toml", head + "route = { pattern = \"b/*\", custom_domain = \"yes\" }\n", 3, "route.custom_domain", "boolean"},
		{"route not a string", "wrangler.toml", head + "routes = [5]\n", 3, "routes[0]", "pattern"},
		{"unsupported binding (toml)", "wrangler.toml", head + "\n[[kv_namespaces]]\nbinding = \"KV\"\nid = \"x\"\n", 4, "kv_namespaces", "not supported by dobj"},
		{"unsupported binding (json)", "wrangler.json", "{\"name\": \"a\", \"main\": \"src/index.ts\",\n \"d1_databases\": []}", 2, "d1_databases", "not supported by dobj"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{tt.file: tt.body})
			_, err := Load(dir, today)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *ConfigError", err, err)
			}
			if ce.File != filepath.Join(dir, tt.file) || ce.Line != tt.line || ce.Field != tt.field || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("error %q: file %s line %d field %q message %q; want line %d field %q message containing %q",
					err, filepath.Base(ce.File), ce.Line, ce.Field, ce.Message, tt.line, tt.field, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), ce.File) {
				t.Fatalf("error %q does not start with the file", err)
			}
		})
	}
}
