package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

var _ scriptNode = (*fakeScriptNode)(nil)

// fakeScriptNode is fakeNode with a real fsm.Machine for scripts: each
// command is encoded and applied as the next log entry, so the FSM's own
// checks of bindings and migrations answer.
type fakeScriptNode struct {
	*fakeNode
	smu   sync.Mutex
	m     *fsm.Machine
	index uint64
}

func newFakeScriptNode() *fakeScriptNode {
	return &fakeScriptNode{fakeNode: newFakeNode(), m: fsm.New(fsm.Options{})}
}

func (f *fakeScriptNode) apply(kind fsm.Kind, body any) *fsm.ScriptResponse {
	b, err := fsm.EncodeBody(body)
	if err != nil {
		panic(err)
	}
	data, err := fsm.Encode(&fsm.Command{Kind: kind, Body: b})
	if err != nil {
		panic(err)
	}
	f.smu.Lock()
	defer f.smu.Unlock()
	f.index++
	return f.m.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: data}).(*fsm.ScriptResponse)
}

func (f *fakeScriptNode) DeployScript(ctx context.Context, p *fsm.ScriptPut) (cluster.ScriptDeploy, error) {
	r := f.apply(fsm.KindScriptPut, p)
	return cluster.ScriptDeploy{Version: r.Version, Applied: r.Applied, Classes: r.Classes}, r.Err
}

func (f *fakeScriptNode) DeleteScript(ctx context.Context, name string) (bool, error) {
	r := f.apply(fsm.KindScriptDelete, &fsm.ScriptDelete{Name: name})
	return r.Found, r.Err
}

func (f *fakeScriptNode) PutSecret(ctx context.Context, script, name, value string) (bool, error) {
	r := f.apply(fsm.KindSecretPut, &fsm.SecretPut{Script: script, Name: name, Value: value})
	return r.Found, r.Err
}

func (f *fakeScriptNode) Script(name string) (cluster.Script, bool) { return f.m.Script(name) }
func (f *fakeScriptNode) Scripts() []cluster.Script                 { return f.m.Scripts() }

const counterModule = "export class Counter {}\nexport default { fetch() { return new Response('ok') } }\n"

func counterMeta() client.ScriptMetadata {
	return client.ScriptMetadata{MainModule: "index.js", CompatibilityDate: "2025-04-01",
		Bindings: []client.ScriptBinding{
			{Type: client.BindingDurableObject, Name: "COUNTER", ClassName: "Counter"},
			{Type: client.BindingText, Name: "GREETING", Text: "hello"},
		},
		Migrations: []client.ScriptMigration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}},
		Routes:     []client.ScriptRoute{{Pattern: "counter.example.com/*"}}}
}

// upload sends PUT /_scripts/<name> as the client builds it.
func upload(t *testing.T, base, name string, meta client.ScriptMetadata, code string) response {
	t.Helper()
	body, ct, err := client.ScriptUploadBody(meta, []client.ScriptModule{{Name: "index.js", Content: []byte(code)}})
	if err != nil {
		t.Fatal(err)
	}
	return call(t, base, http.MethodPut, "/_scripts/"+name, string(body), "Content-Type", ct)
}

func problemDetail(t *testing.T, r response) string {
	t.Helper()
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("answer %d is not problem+json: %s", r.status, r.body)
	}
	var p problem
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	return p.Detail
}

func TestScriptDeployAndList(t *testing.T) {
	node := newFakeScriptNode()
	ts := serve(t, Config{}, node)
	r := upload(t, ts.URL, "hono-counter", counterMeta(), counterModule)
	if r.status != http.StatusOK {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	var d client.ScriptDeployed
	json.Unmarshal([]byte(r.body), &d)
	if d.Script != "hono-counter" || d.Version != 1 || len(d.Applied) != 1 || d.Classes[0].Name != "Counter" || !d.Classes[0].SQLite {
		t.Fatalf("deploy answer %+v", d)
	}
	if r.header.Get("X-Dobj-Index") != "1" {
		t.Fatalf("X-Dobj-Index = %q", r.header.Get("X-Dobj-Index"))
	}
	// Redeploying applies no migration again and keeps the classes.
	r = upload(t, ts.URL, "hono-counter", counterMeta(), counterModule)
	json.Unmarshal([]byte(r.body), &d)
	if r.status != http.StatusOK || d.Version != 2 || len(d.Applied) != 0 || len(d.Classes) != 1 {
		t.Fatalf("redeploy: %d %+v", r.status, d)
	}
	r = call(t, ts.URL, http.MethodGet, "/_scripts", "")
	var list struct{ Scripts []client.Script }
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if len(list.Scripts) != 1 || list.Scripts[0].Version != 2 || list.Scripts[0].Classes[0].Name != "Counter" {
		t.Fatalf("list = %+v", list.Scripts)
	}
	if strings.Contains(r.body, "export class") {
		t.Fatalf("the list carries the code: %s", r.body)
	}
	r = call(t, ts.URL, http.MethodGet, "/_scripts/hono-counter", "")
	var one client.Script
	json.Unmarshal([]byte(r.body), &one)
	if r.status != http.StatusOK || one.MainModule != "index.js" || one.Routes[0].Pattern != "counter.example.com/*" ||
		len(one.Bindings) != 2 || strings.Contains(r.body, "export class") {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := call(t, ts.URL, http.MethodGet, "/_scripts/absent", ""); r.status != http.StatusNotFound {
		t.Fatalf("get of an absent script: %d", r.status)
	}
}

func TestScriptUploadRefusals(t *testing.T) {
	node := newFakeScriptNode()
	ts := serve(t, Config{MaxScriptBytes: 64 << 10}, node)
	if r := upload(t, ts.URL, "app", counterMeta(), counterModule); r.status != http.StatusOK {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	// other binds app's Counter: app may not delete it now.
	other := counterMeta()
	other.Migrations = nil
	other.Bindings = []client.ScriptBinding{{Type: client.BindingDurableObject, Name: "FAR", ClassName: "Counter", ScriptName: "app"}}
	if r := upload(t, ts.URL, "other", other, counterModule); r.status != http.StatusOK {
		t.Fatalf("deploy other: %d %s", r.status, r.body)
	}
	// svc exports the entrypoint Admin, a WorkerEntrypoint.
	svc := client.ScriptMetadata{MainModule: "index.js", CompatibilityDate: "2025-04-01"}
	const svcModule = `import { WorkerEntrypoint } from "cloudflare:workers";
export class Admin extends WorkerEntrypoint { ping() { return "pong"; } }
export default { fetch() { return new Response("svc"); } };
`
	if r := upload(t, ts.URL, "svc", svc, svcModule); r.status != http.StatusOK {
		t.Fatalf("deploy svc: %d %s", r.status, r.body)
	}
	// legacy was deployed (before this check) with a class its module
	// does not export.
	legacy := node.apply(fsm.KindScriptPut, &fsm.ScriptPut{Name: "legacy", MainModule: "index.js",
		Modules:    []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte("export default {};\n")}},
		Migrations: []fsm.Migration{{Tag: "v1", NewClasses: []string{"Counter"}}}})
	if legacy.Err != nil {
		t.Fatal(legacy.Err)
	}
	bound := counterMeta()
	bound.Bindings = append(bound.Bindings, client.ScriptBinding{Type: client.BindingService, Name: "ADMIN", Service: "svc", Entrypoint: "Admin"})
	if r := upload(t, ts.URL, "app", bound, counterModule); r.status != http.StatusOK {
		t.Fatalf("a binding to an exported entrypoint: %d %s", r.status, r.body)
	}
	with := func(f func(*client.ScriptMetadata)) client.ScriptMetadata {
		m := counterMeta()
		f(&m)
		return m
	}
	tests := []struct {
		name   string
		script string
		meta   client.ScriptMetadata
		code   string
		status int
		detail string
	}{
		{"binding to an unknown class", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingDurableObject, Name: "NOPE", ClassName: "Missing"})
		}), counterModule, 400, "durable_objects binding NOPE"},
		{"binding to an unknown script", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingDurableObject, Name: "FAR", ClassName: "Counter", ScriptName: "ghost"})
		}), counterModule, 400, "durable_objects binding FAR: no script ghost"},
		{"binding to another script's unknown class", "third", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingDurableObject, Name: "FAR", ClassName: "Nope", ScriptName: "app"})
		}), counterModule, 400, "durable_objects binding FAR: script app has no class Nope"},
		{"service binding to an unknown script", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingService, Name: "SVC", Service: "ghost"})
		}), counterModule, 400, "service binding SVC: no script ghost"},
		{"deleting a class another script binds", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = m.Bindings[1:]
			m.Migrations = append(m.Migrations, client.ScriptMigration{Tag: "v2", DeletedClasses: []string{"Counter"}})
		}), counterModule, 400, "still bound by script other (durable_objects binding FAR)"},
		{"binding to a class the module does not export", "app", counterMeta(),
			"export class Other {}\nexport default {};\n", 400, "durable_objects binding COUNTER: script app does not export class Counter (it exports Other)"},
		{"service binding to an entrypoint the script does not export", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingService, Name: "ADMIN", Service: "svc", Entrypoint: "Nope"})
		}), counterModule, 400, "service binding ADMIN: script svc does not export entrypoint Nope (it exports Admin)"},
		{"service binding to its own missing entrypoint", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingService, Name: "SELF", Service: "app", Entrypoint: "Gone"})
		}), counterModule, 400, "service binding SELF: script app does not export entrypoint Gone (it exports Counter)"},
		{"binding to another script's class it does not export", "third", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: client.BindingDurableObject, Name: "OLD", ClassName: "Counter", ScriptName: "legacy"})
		}), counterModule, 400, "durable_objects binding OLD: script legacy does not export class Counter (it exports no class)"},
		{"main module that does not load", "app", counterMeta(), "export class {", 400, "the main module index.js does not load"},
		{"main module not uploaded", "app", with(func(m *client.ScriptMetadata) { m.MainModule = "main.js" }), counterModule, 400, "main_module"},
		{"bad compatibility date", "app", with(func(m *client.ScriptMetadata) { m.CompatibilityDate = "2025-13-45" }), counterModule, 400, "compatibility_date"},
		{"unknown binding type", "app", with(func(m *client.ScriptMetadata) {
			m.Bindings = append(m.Bindings, client.ScriptBinding{Type: "kv_namespace", Name: "KV"})
		}), counterModule, 400, "bindings[2] (KV): type \"kv_namespace\""},
		{"bad script name", "Bad.Name", counterMeta(), counterModule, 400, "script name"},
		{"over the size limit", "app", counterMeta(), strings.Repeat("x", 65<<10), 413, "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, _, _ := node.m.Digest()
			r := upload(t, ts.URL, tt.script, tt.meta, tt.code)
			if r.status != tt.status || !strings.Contains(problemDetail(t, r), tt.detail) {
				t.Fatalf("answer %d %s, want %d naming %q", r.status, r.body, tt.status, tt.detail)
			}
			if after, _, _, _ := node.m.Digest(); after != before {
				t.Fatal("a refused upload changed the state")
			}
		})
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app", `{"main_module":"x"}`, "Content-Type", "application/json"); r.status != http.StatusBadRequest {
		t.Fatalf("a JSON upload: %d, want 400", r.status)
	}
	// Deleting a script another binds: 409; absent: 404.
	if r := call(t, ts.URL, http.MethodDelete, "/_scripts/app", ""); r.status != http.StatusConflict || !strings.Contains(problemDetail(t, r), "still bound by script other") {
		t.Fatalf("delete of a bound script: %d %s", r.status, r.body)
	}
	for _, want := range []int{http.StatusOK, http.StatusNotFound} {
		if r := call(t, ts.URL, http.MethodDelete, "/_scripts/other", ""); r.status != want {
			t.Fatalf("delete other: %d %s, want %d", r.status, r.body, want)
		}
	}
}

// TestScriptSecretsNeverAnswered sets a secret and checks that no route's
// answer carries its value, only its name.
func TestScriptSecretsNeverAnswered(t *testing.T) {
	node := newFakeScriptNode()
	ts := serve(t, Config{}, node)
	const value = "s3cret-value-that-must-not-leak"
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/TOKEN", value); r.status != http.StatusNotFound {
		t.Fatalf("secret of an absent script: %d %s", r.status, r.body)
	}
	upload(t, ts.URL, "app", counterMeta(), counterModule)
	var answers []response
	answers = append(answers, call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/TOKEN", value, "Content-Type", "text/plain"))
	if answers[0].status != http.StatusOK {
		t.Fatalf("put secret: %d %s", answers[0].status, answers[0].body)
	}
	if s, _ := node.m.Script("app"); len(s.Secrets) != 1 || s.Secrets[0].Value != value {
		t.Fatalf("stored secrets = %d", len(s.Secrets))
	}
	answers = append(answers, upload(t, ts.URL, "app", counterMeta(), counterModule)) // a redeploy keeps it
	for _, path := range []string{"/_scripts", "/_scripts/app", "/_scripts/app/secrets", "/_objects", "/_cluster/status"} {
		answers = append(answers, call(t, ts.URL, http.MethodGet, path, ""))
	}
	for _, r := range answers {
		if strings.Contains(r.body, value) {
			t.Fatalf("an answer carries the secret: %s", r.body)
		}
	}
	if r := answers[4]; r.body != `{"secrets":["TOKEN"]}`+"\n" {
		t.Fatalf("secret names: %d %q", r.status, r.body)
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/TOKEN", strings.Repeat("x", 6<<10)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized secret: %d", r.status)
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/not-a-name", "v"); r.status != http.StatusBadRequest {
		t.Fatalf("a bad secret name: %d", r.status)
	}
}

func TestScriptRoutesNeedAdmin(t *testing.T) {
	for _, r := range []struct{ method, path string }{
		{"GET", "/_scripts"}, {"PUT", "/_scripts/app"}, {"DELETE", "/_scripts/app"},
		{"PUT", "/_scripts/app/secrets/TOKEN"}, {"GET", "/_scripts/app/secrets"},
		{"POST", "/_scripts/app/objects/Notes/n-1/sql"}, {"GET", "/_sql/objects"}, {"POST", "/_sql/query"},
	} {
		if got := requiredRole(r.method, r.path); got != auth.RoleAdmin {
			t.Errorf("%s %s needs %v, want admin", r.method, r.path, got)
		}
	}
}

// TestScriptUploadOnAnOpenNode: a node without tokens takes the
// multipart upload and the text/plain secret (PUTs, which no page sends
// across sites without a preflight), and refuses both from another
// site's page, applying nothing.
func TestScriptUploadOnAnOpenNode(t *testing.T) {
	node := newFakeScriptNode()
	ts := serve(t, Config{}, node)
	body, ct, err := client.ScriptUploadBody(counterMeta(), []client.ScriptModule{{Name: "index.js", Content: []byte(counterModule)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"cross-site", "same-site"} {
		r := call(t, ts.URL, http.MethodPut, "/_scripts/app", string(body), "Content-Type", ct, "Sec-Fetch-Site", site)
		if r.status != http.StatusForbidden {
			t.Fatalf("upload from a %s page: %d %s, want 403", site, r.status, r.body)
		}
	}
	if len(node.m.Scripts()) != 0 {
		t.Fatal("a refused upload was applied")
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app", string(body), "Content-Type", ct, "Sec-Fetch-Site", "none"); r.status != http.StatusOK {
		t.Fatalf("upload typed at the command line: %d %s", r.status, r.body)
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/TOKEN", "v", "Content-Type", "text/plain", "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Fatalf("secret from another site's page: %d", r.status)
	}
	if r := call(t, ts.URL, http.MethodPut, "/_scripts/app/secrets/TOKEN", "v", "Content-Type", "text/plain"); r.status != http.StatusOK {
		t.Fatalf("secret with text/plain: %d %s", r.status, r.body)
	}
}
