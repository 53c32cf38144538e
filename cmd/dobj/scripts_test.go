package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dobj/dobj/client"
)

// writeProject writes a small Workers project (no npm packages) to a new
// directory.
func writeProject(t *testing.T, toml string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"wrangler.toml": toml,
		"src/index.ts": `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment(): Promise<number> { return 1; }
}
export default { async fetch(): Promise<Response> { return new Response("ok"); } };
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodToml = `name = "small"
main = "src/index.ts"

[vars]
GREETING = "hi"

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
`

// TestDeployProjectFailsBeforeUploading: a project that cannot deploy is
// an error naming the file, line and field, and nothing reaches the
// server.
func TestDeployProjectFailsBeforeUploading(t *testing.T) {
	var requests atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer ts.Close()
	env := getenvOf(map[string]string{"DOBJ_URL": ts.URL})
	tests := []struct {
		name, toml, want string
	}{
		{"unknown field type", strings.Replace(goodToml, `tag = "v1"`, `tag = 1`, 1), "wrangler.toml:12"},
		{"class main does not export", strings.Replace(goodToml, `"Counter"]`, `"Counter", "Missing"]`, 1), "migrations[0].new_sqlite_classes[1]"},
		{"binding to no class", strings.Replace(goodToml, `class_name = "Counter"`, `class_name = "Nope"`, 1), "durable_objects.bindings[0].class_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProject(t, tt.toml)
			err := run(context.Background(), []string{"deploy", dir}, env, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "wrangler.toml") {
				t.Fatalf("deploy: %v, want an error naming wrangler.toml and %q", err, tt.want)
			}
		})
	}
	if err := run(context.Background(), []string{"deploy", t.TempDir()}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no wrangler.toml") {
		t.Fatalf("deploy of a directory without a project: %v", err)
	}
	if err := run(context.Background(), []string{"deploy", writeProject(t, goodToml), "--class", "Counter"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--class is for a FILE") {
		t.Fatalf("deploy DIR --class: %v", err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

// TestDeployProjectInProcess deploys a project from the current
// directory (no argument) to a node, lists it, and sets a secret whose
// script is the project's name.
func TestDeployProjectInProcess(t *testing.T) {
	url, _ := startServe(t, io.Discard)
	env := getenvOf(map[string]string{"DOBJ_URL": url})
	t.Chdir(writeProject(t, goodToml))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"deploy"}, env, &out, io.Discard); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var d client.ScriptDeployed
	if err := json.Unmarshal(out.Bytes(), &d); err != nil || d.Script != "small" || d.Version == 0 || len(d.Classes) != 1 {
		t.Fatalf("deploy printed %s (%v)", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"scripts"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var list struct{ Scripts []client.Script }
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list.Scripts) != 1 {
		t.Fatalf("scripts printed %s (%v)", out.String(), err)
	}
	s := list.Scripts[0]
	if s.Name != "small" || s.MainModule != "index.js" || s.CompatibilityDate == "" || len(s.Bindings) != 2 || s.Classes[0].Name != "Counter" {
		t.Fatalf("listed %+v", s)
	}
	// secret put: the value from stdin, the script from the project here.
	out.Reset()
	e := env2(env, strings.NewReader("s3cret\n"), &out)
	if err := secretVerb(context.Background(), e, []string{"put", "TOKEN"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Fatalf("secret put printed the value: %s", out.String())
	}
	names, err := client.New(url).SecretNames(context.Background(), "small")
	if err != nil || len(names) != 1 || names[0] != "TOKEN" {
		t.Fatalf("secret names %v %v", names, err)
	}
	if err := run(context.Background(), []string{"secret", "get", "TOKEN"}, env, io.Discard, io.Discard); err == nil {
		t.Fatal("secret get is not a verb")
	}
	// A service binding to an entrypoint small does not export: the
	// server refuses it, naming the binding, and nothing is deployed.
	caller := strings.Replace(goodToml, `name = "small"`, `name = "caller"`, 1) +
		"\n[[services]]\nbinding = \"ADMIN\"\nservice = \"small\"\nentrypoint = \"Admin\"\n"
	err = run(context.Background(), []string{"deploy", writeProject(t, caller)}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "service binding ADMIN: script small does not export entrypoint Admin") {
		t.Fatalf("deploy with a binding to a missing entrypoint: %v", err)
	}
	if _, err := client.New(url).Script(context.Background(), "caller"); err == nil {
		t.Fatal("the refused project was deployed")
	}
}

func env2(getenv func(string) string, stdin io.Reader, stdout io.Writer) env {
	return env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: io.Discard}
}
