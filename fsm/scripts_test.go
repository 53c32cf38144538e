package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dobj/dobj/objects"
)

func counterScript(name string, migrations ...Migration) *ScriptPut {
	return &ScriptPut{Name: name, MainModule: "index.js",
		Modules:           []Module{{Name: "index.js", Type: "esm", Content: []byte("export class Counter {}; export default {}")}},
		CompatibilityDate: "2025-04-01",
		Vars:              []Var{{Name: "GREETING", JSON: []byte(`"hi"`)}},
		DurableObjects:    []DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Routes:            []Route{{Pattern: "example.com/*"}},
		Migrations:        append([]Migration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}}, migrations...),
	}
}

func (f *feeder) script(kind Kind, body any) *ScriptResponse {
	f.t.Helper()
	return f.applyRaw(classCmd(f.t, kind, "", body)).(*ScriptResponse)
}

func TestScriptDeploy(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	r := f.script(KindScriptPut, counterScript("app"))
	if r.Err != nil || r.Version != 1 || !reflect.DeepEqual(r.Applied, []string{"v1"}) {
		t.Fatalf("deploy: %+v, want version 1 applying v1", r)
	}
	s, ok := m.Script("app")
	if !ok || s.Version != 1 || s.MainModule != "index.js" || len(s.Modules) != 1 || s.Routes[0].Pattern != "example.com/*" {
		t.Fatalf("script = %+v", s)
	}
	want := []ScriptClass{{Name: "Counter", SQLite: true, CreatedAs: "Counter", Tag: "v1"}}
	if !reflect.DeepEqual(s.Classes, want) {
		t.Fatalf("classes = %+v, want %+v", s.Classes, want)
	}
	// Redeploying with the same tag applies nothing again (a second
	// new_sqlite_classes of Counter would be refused).
	r = f.script(KindScriptPut, counterScript("app"))
	if r.Err != nil || r.Version != 2 || len(r.Applied) != 0 {
		t.Fatalf("redeploy: %+v, want version 2 applying nothing", r)
	}
	// A rename keeps the storage identity; the binding follows it.
	p := counterScript("app", Migration{Tag: "v2", Renamed: []Rename{{From: "Counter", To: "Tally"}}})
	p.DurableObjects = []DOBinding{{Name: "COUNTER", Class: "Tally"}}
	if r = f.script(KindScriptPut, p); r.Err != nil {
		t.Fatal(r.Err)
	}
	s, _ = m.Script("app")
	want = []ScriptClass{{Name: "Tally", SQLite: true, CreatedAs: "Counter", Tag: "v1"}}
	if !reflect.DeepEqual(s.Classes, want) || !reflect.DeepEqual(s.Tags, []string{"v1", "v2"}) {
		t.Fatalf("after rename: classes %+v tags %v", s.Classes, s.Tags)
	}
}

func TestScriptRefusals(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	if r := f.script(KindScriptPut, counterScript("app")); r.Err != nil {
		t.Fatal(r.Err)
	}
	other := &ScriptPut{Name: "other", MainModule: "w.js", Modules: []Module{{Name: "w.js", Content: []byte("export default {}")}},
		DurableObjects: []DOBinding{{Name: "C", Class: "Counter", Script: "app"}},
		Services:       []ServiceBinding{{Name: "APP", Service: "app"}}}
	if r := f.script(KindScriptPut, other); r.Err != nil {
		t.Fatal(r.Err)
	}
	tests := []struct {
		name string
		put  *ScriptPut
		want string
	}{
		{"unknown own class", func() *ScriptPut {
			p := counterScript("app")
			p.DurableObjects = append(p.DurableObjects, DOBinding{Name: "NOPE", Class: "Missing"})
			return p
		}(), "durable_objects binding NOPE: script app has no class Missing"},
		{"unknown script", func() *ScriptPut {
			p := counterScript("third")
			p.DurableObjects = append(p.DurableObjects, DOBinding{Name: "FAR", Class: "Counter", Script: "ghost"})
			return p
		}(), "durable_objects binding FAR: no script ghost"},
		{"unknown class of another script", func() *ScriptPut {
			p := counterScript("third")
			p.DurableObjects = append(p.DurableObjects, DOBinding{Name: "FAR", Class: "Other", Script: "app"})
			return p
		}(), "durable_objects binding FAR: script app has no class Other"},
		{"unknown service", func() *ScriptPut {
			p := counterScript("third")
			p.Services = []ServiceBinding{{Name: "SVC", Service: "ghost"}}
			return p
		}(), "service binding SVC: no script ghost"},
		{"delete a class another script binds", func() *ScriptPut {
			p := counterScript("app", Migration{Tag: "v2", Deleted: []string{"Counter"}})
			p.DurableObjects = nil
			return p
		}(), "class Counter of script app is still bound by script other (durable_objects binding C)"},
		{"create an existing class", counterScript("app", Migration{Tag: "v2", NewClasses: []string{"Counter"}}),
			"migration v2: class Counter already exists"},
		{"delete an absent class", counterScript("app", Migration{Tag: "v2", Deleted: []string{"Nope"}}),
			"migration v2: no class Nope to delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, _, _ := m.Digest()
			r := f.script(KindScriptPut, tt.put)
			if !errors.Is(r.Err, objects.ErrInvalid) || !strings.Contains(r.Err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", r.Err, tt.want)
			}
			if after, _, _, _ := m.Digest(); after != before {
				t.Fatal("a refused deploy changed the state")
			}
		})
	}
	// Deleting a script another one binds is refused; once that one is
	// gone, it is removed.
	if r := f.script(KindScriptDelete, &ScriptDelete{Name: "app"}); r.Err == nil || !strings.Contains(r.Err.Error(), "still bound by script other") {
		t.Fatalf("delete of a bound script: %+v", r)
	}
	for _, name := range []string{"other", "app"} {
		if r := f.script(KindScriptDelete, &ScriptDelete{Name: name}); r.Err != nil || !r.Found {
			t.Fatalf("delete %s: %+v", name, r)
		}
	}
	if r := f.script(KindScriptDelete, &ScriptDelete{Name: "app"}); r.Found {
		t.Fatal("deleted twice")
	}
	if len(m.Scripts()) != 0 {
		t.Fatalf("scripts left: %+v", m.Scripts())
	}
}

func TestScriptSecrets(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	if r := f.script(KindSecretPut, &SecretPut{Script: "app", Name: "TOKEN", Value: "s3cret"}); r.Found {
		t.Fatal("a secret of an absent script was set")
	}
	f.script(KindScriptPut, counterScript("app"))
	for _, p := range []SecretPut{{"app", "TOKEN", "one"}, {"app", "API_KEY", "k"}, {"app", "TOKEN", "s3cret"}} {
		if r := f.script(KindSecretPut, &p); !r.Found {
			t.Fatalf("put %s: %+v", p.Name, r)
		}
	}
	f.script(KindScriptPut, counterScript("app")) // secrets survive a deploy
	s, _ := m.Script("app")
	if want := []Secret{{"API_KEY", "k"}, {"TOKEN", "s3cret"}}; !reflect.DeepEqual(s.Secrets, want) {
		t.Fatalf("secrets = %+v, want %+v", s.Secrets, want)
	}
	list := m.Scripts()
	if len(list) != 1 || !reflect.DeepEqual(list[0].SecretNames(), []string{"API_KEY", "TOKEN"}) || list[0].Modules != nil {
		t.Fatalf("Scripts() = %+v", list)
	}
	for _, sec := range list[0].Secrets {
		if sec.Value != "" {
			t.Fatalf("Scripts() returned the value of %s", sec.Name)
		}
	}
}

// TestScriptSnapshotRoundTrip restores a snapshot with scripts into a new
// machine and checks the registry and digest are the same.
func TestScriptSnapshotRoundTrip(t *testing.T) {
	m := goldenScriptState(t)
	b := snapshotBytes(t, m)
	r := New(Options{})
	if err := r.Restore(nopCloser{bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
	d1, a1, _, _ := m.Digest()
	d2, a2, _, _ := r.Digest()
	if d1 != d2 || a1 != a2 {
		t.Fatalf("digest %s@%d after restore, want %s@%d", d2, a2, d1, a1)
	}
	for _, name := range []string{"app", "other"} {
		want, _ := m.Script(name)
		got, ok := r.Script(name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("restored %s = %+v, want %+v", name, got, want)
		}
	}
	// The restored registry goes on refusing what the original would.
	f := &feeder{t: t, m: r, index: a2}
	if resp := f.script(KindScriptDelete, &ScriptDelete{Name: "app"}); resp.Err == nil {
		t.Fatal("restored registry forgot that other binds app")
	}
}

// goldenScriptState is goldenClassState with two scripts (one binding
// the other's class and service) and a secret.
func goldenScriptState(t *testing.T) *Machine {
	t.Helper()
	m := goldenClassState(t)
	f := &feeder{t: t, m: m, index: m.LastApplied()}
	for _, c := range goldenScriptCommands(t) {
		f.applyRaw(&c)
	}
	return m
}

func goldenScriptCommands(t *testing.T) []Command {
	t.Helper()
	other := &ScriptPut{Name: "other", MainModule: "w.js", Modules: []Module{{Name: "w.js", Type: "esm", Content: []byte("export default {}")}},
		CompatibilityDate: "2025-04-02",
		DurableObjects:    []DOBinding{{Name: "C", Class: "Counter", Script: "app"}},
		Services:          []ServiceBinding{{Name: "APP", Service: "app", Entrypoint: "Api"}}}
	out := []Command{}
	for _, c := range []*Command{
		classCmd(t, KindScriptPut, "", counterScript("app")),
		classCmd(t, KindScriptPut, "", other),
		classCmd(t, KindSecretPut, "", &SecretPut{Script: "app", Name: "TOKEN", Value: "s3cret"}),
		classCmd(t, KindScriptDelete, "", &ScriptDelete{Name: "gone"}),
	} {
		c.Time = 70
		out = append(out, *c)
	}
	return out
}

// TestStoredScriptChangesOnlyWithTheScript: StoredScript's pointer stays
// the same while the script does, and every change (a deploy, a secret)
// stores a new one and leaves the old as it was: the host's caches of
// compiled Workers and programs rely on it.
func TestStoredScriptChangesOnlyWithTheScript(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	if _, ok := m.StoredScript("app"); ok {
		t.Fatal("an absent script was found")
	}
	f.script(KindScriptPut, counterScript("app"))
	first, _ := m.StoredScript("app")
	f.script(KindScriptPut, counterScript("other"))
	if again, _ := m.StoredScript("app"); again != first {
		t.Fatal("another script's deploy replaced this one's")
	}
	f.script(KindSecretPut, &SecretPut{Script: "app", Name: "TOKEN", Value: "one"})
	secret, _ := m.StoredScript("app")
	if secret == first || len(first.Secrets) != 0 || len(secret.Secrets) != 1 {
		t.Fatalf("after a secret: same pointer %v, old secrets %v, new %v", secret == first, first.Secrets, secret.Secrets)
	}
	f.script(KindScriptPut, counterScript("app"))
	// A secret keeps the version: only the pointer tells the env changed.
	if redeployed, _ := m.StoredScript("app"); redeployed == secret || secret.Version != first.Version || redeployed.Version == first.Version {
		t.Fatalf("after a redeploy: same pointer %v, versions %d and %d", redeployed == secret, secret.Version, redeployed.Version)
	}
}
