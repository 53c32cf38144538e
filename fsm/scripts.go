package fsm

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/dobj/dobj/objects"
	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"
)

// Scripts (issue 20): a Workers project deployed as one script — its
// bundle, configuration, bindings, the migrations it has applied and the
// classes they leave, its secrets. Their commands carry their data in
// Command.Body, as the class commands do; the kinds sit apart from those.
const (
	// KindScriptPut deploys (or redeploys) a script; its version is the
	// entry's index. Applying it checks its migrations and bindings
	// against the scripts already deployed and refuses (ErrInvalid,
	// nothing changed) what Cloudflare would refuse.
	KindScriptPut Kind = 40 + iota
	// KindScriptDelete removes a script; its objects' storage stays.
	KindScriptDelete
	// KindSecretPut sets one secret of a deployed script.
	KindSecretPut
)

// Module is one module of a script's bundle.
type Module struct {
	Name    string `msgpack:"n"`
	Type    string `msgpack:"t,omitempty"` // "esm" (the only kind the CLI sends)
	Content []byte `msgpack:"c"`
}

// Var is one plain environment variable: its value as JSON text (a
// string, or any JSON value for a table).
type Var struct {
	Name string `msgpack:"n"`
	JSON []byte `msgpack:"j"`
}

// DOBinding is a Durable Object namespace binding: env[Name] is Class's
// namespace in Script (this script when empty).
type DOBinding struct {
	Name   string `msgpack:"n"`
	Class  string `msgpack:"c"`
	Script string `msgpack:"s,omitempty"`
}

// ServiceBinding is env[Name] calling the script Service (its Entrypoint
// export, or its default export when empty).
type ServiceBinding struct {
	Name       string `msgpack:"n"`
	Service    string `msgpack:"s"`
	Entrypoint string `msgpack:"e,omitempty"`
}

// Route is where a script's Worker serves: a host and path pattern.
type Route struct {
	Pattern      string `msgpack:"p"`
	ZoneName     string `msgpack:"z,omitempty"`
	CustomDomain bool   `msgpack:"d,omitempty"`
}

// Migration is one [[migrations]] step of wrangler's configuration.
type Migration struct {
	Tag              string   `msgpack:"t"`
	NewClasses       []string `msgpack:"n,omitempty"`
	NewSQLiteClasses []string `msgpack:"q,omitempty"`
	Renamed          []Rename `msgpack:"r,omitempty"`
	Deleted          []string `msgpack:"d,omitempty"`
}

// Rename is a class renamed by a migration.
type Rename struct {
	From string `msgpack:"f"`
	To   string `msgpack:"t"`
}

// ScriptClass is a Durable Object class of a script after its migrations.
// CreatedAs is the name it was created under, which renames keep: its
// objects' storage and ids belong to (script, CreatedAs)
// (objects.NewNamespace), so a renamed class keeps its objects.
type ScriptClass struct {
	Name      string `msgpack:"n"`
	SQLite    bool   `msgpack:"q,omitempty"`
	CreatedAs string `msgpack:"a"`
	Tag       string `msgpack:"t"` // the migration that created it
}

// Secret is one secret of a script. Its value is in the FSM (and so in
// snapshots and backups) but no route returns it and nothing logs it.
type Secret struct {
	Name  string `msgpack:"n"`
	Value string `msgpack:"v"`
}

// Script is one deployed script.
type Script struct {
	Name               string           `msgpack:"n"`
	MainModule         string           `msgpack:"m"`
	Modules            []Module         `msgpack:"mo"`
	CompatibilityDate  string           `msgpack:"cd"`
	CompatibilityFlags []string         `msgpack:"cf,omitempty"`
	Vars               []Var            `msgpack:"va,omitempty"`
	DurableObjects     []DOBinding      `msgpack:"do,omitempty"`
	Services           []ServiceBinding `msgpack:"sv,omitempty"`
	Routes             []Route          `msgpack:"ro,omitempty"`
	// Tags are the migrations applied, in order; Classes what they left,
	// in the order they were created.
	Tags    []string      `msgpack:"tg,omitempty"`
	Classes []ScriptClass `msgpack:"cl,omitempty"`
	// Secrets, sorted by name; kept across deploys.
	Secrets []Secret `msgpack:"se,omitempty"`
	Version uint64   `msgpack:"v"` // the index of the entry that deployed it
}

// Class returns the script's class name.
func (s *Script) Class(name string) (ScriptClass, bool) {
	for _, c := range s.Classes {
		if c.Name == name {
			return c, true
		}
	}
	return ScriptClass{}, false
}

// SecretNames are the names of the script's secrets, sorted.
func (s *Script) SecretNames() []string {
	out := make([]string, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		out = append(out, sec.Name)
	}
	return out
}

// ScriptPut is KindScriptPut's body: a script as uploaded, with every
// migration of its project (those already applied are skipped).
type ScriptPut struct {
	Name               string           `msgpack:"n"`
	MainModule         string           `msgpack:"m"`
	Modules            []Module         `msgpack:"mo"`
	CompatibilityDate  string           `msgpack:"cd"`
	CompatibilityFlags []string         `msgpack:"cf,omitempty"`
	Vars               []Var            `msgpack:"va,omitempty"`
	DurableObjects     []DOBinding      `msgpack:"do,omitempty"`
	Services           []ServiceBinding `msgpack:"sv,omitempty"`
	Routes             []Route          `msgpack:"ro,omitempty"`
	Migrations         []Migration      `msgpack:"mi,omitempty"`
}

// ScriptDelete is KindScriptDelete's body.
type ScriptDelete struct {
	Name string `msgpack:"n"`
}

// SecretPut is KindSecretPut's body.
type SecretPut struct {
	Script string `msgpack:"s"`
	Name   string `msgpack:"n"`
	Value  string `msgpack:"v"`
}

// ScriptResponse is what applying a script command returns.
type ScriptResponse struct {
	Version uint64 // put: the script's version (the entry's index)
	// Found: delete, the script existed; secret, the script exists.
	Found bool
	// Applied are the migration tags this deploy applied (put).
	Applied []string
	// Classes are the script's classes after the deploy (put).
	Classes []ScriptClass
	// Err is why the command was refused (an objects.ErrInvalid naming
	// the binding or migration); nothing was changed.
	Err error
}

// scriptState is the FSM's part for scripts: a B-tree by name, so that
// snapshots clone it in constant time.
type scriptState struct {
	scripts *btree.BTreeG[*Script]
}

func newScriptState() *scriptState {
	return &scriptState{scripts: btree.NewG(8, func(a, b *Script) bool { return a.Name < b.Name })}
}

func (ss *scriptState) clone() *scriptState { return &scriptState{scripts: ss.scripts.Clone()} }

func (ss *scriptState) get(name string) *Script {
	s, _ := ss.scripts.Get(&Script{Name: name})
	return s
}

// applyScriptCommand applies the kinds of this file; ok is false for
// another kind. Entries in the tree are never modified in place (a
// snapshot's clone shares them): a change stores a new *Script.
func (m *Machine) applyScriptCommand(c *Command, index uint64) (resp interface{}, ok bool) {
	switch c.Kind {
	case KindScriptPut:
		var p ScriptPut
		decodeBody(c, index, &p)
		return m.scr.put(&p, index), true
	case KindScriptDelete:
		var d ScriptDelete
		decodeBody(c, index, &d)
		return m.scr.delete(d.Name), true
	case KindSecretPut:
		var p SecretPut
		decodeBody(c, index, &p)
		return m.scr.putSecret(&p), true
	}
	return nil, false
}

func (ss *scriptState) put(p *ScriptPut, index uint64) *ScriptResponse {
	prev := ss.get(p.Name)
	classes, tags, applied, err := ss.migrate(p, prev)
	if err == nil {
		err = ss.checkBindings(p, classes)
	}
	if err != nil {
		return &ScriptResponse{Err: err}
	}
	s := &Script{Name: p.Name, MainModule: p.MainModule, Modules: p.Modules, CompatibilityDate: p.CompatibilityDate,
		CompatibilityFlags: p.CompatibilityFlags, Vars: p.Vars, DurableObjects: p.DurableObjects, Services: p.Services,
		Routes: p.Routes, Tags: tags, Classes: classes, Version: index}
	if prev != nil {
		s.Secrets = prev.Secrets
	}
	ss.scripts.ReplaceOrInsert(s)
	return &ScriptResponse{Version: index, Applied: applied, Classes: classes}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", objects.ErrInvalid, fmt.Sprintf(format, args...))
}

// migrate applies p's migrations whose tags prev has not applied, in
// order, to prev's classes, as Cloudflare applies a deploy's migrations
// after the script's last tag. Every other script's binding to a class
// of this script must still find it afterwards (stillBound).
func (ss *scriptState) migrate(p *ScriptPut, prev *Script) (classes []ScriptClass, tags, applied []string, err error) {
	if prev != nil {
		classes = append(classes, prev.Classes...)
		tags = append(tags, prev.Tags...)
	}
	find := func(name string) int {
		for i, c := range classes {
			if c.Name == name {
				return i
			}
		}
		return -1
	}
	has := func(tag string) bool {
		for _, t := range tags {
			if t == tag {
				return true
			}
		}
		return false
	}
	for i, mg := range p.Migrations {
		if mg.Tag == "" {
			return nil, nil, nil, invalid("migrations[%d]: missing tag", i)
		}
		if has(mg.Tag) {
			continue
		}
		for _, list := range []struct {
			names  []string
			sqlite bool
		}{{mg.NewClasses, false}, {mg.NewSQLiteClasses, true}} {
			for _, name := range list.names {
				if find(name) >= 0 {
					return nil, nil, nil, invalid("migration %s: class %s already exists", mg.Tag, name)
				}
				classes = append(classes, ScriptClass{Name: name, SQLite: list.sqlite, CreatedAs: name, Tag: mg.Tag})
			}
		}
		for _, r := range mg.Renamed {
			k := find(r.From)
			switch {
			case k < 0:
				return nil, nil, nil, invalid("migration %s: no class %s to rename", mg.Tag, r.From)
			case find(r.To) >= 0:
				return nil, nil, nil, invalid("migration %s: class %s already exists", mg.Tag, r.To)
			}
			classes[k].Name = r.To
		}
		for _, name := range mg.Deleted {
			k := find(name)
			if k < 0 {
				return nil, nil, nil, invalid("migration %s: no class %s to delete", mg.Tag, name)
			}
			classes = append(classes[:k:k], classes[k+1:]...)
		}
		tags = append(tags, mg.Tag)
		applied = append(applied, mg.Tag)
	}
	return classes, tags, applied, ss.stillBound(p.Name, classes)
}

// stillBound refuses a deploy of script whose migrations left out
// (deleted or renamed away) a class another script binds.
func (ss *scriptState) stillBound(script string, classes []ScriptClass) error {
	own := &Script{Classes: classes}
	var err error
	ss.scripts.Ascend(func(o *Script) bool {
		if o.Name == script {
			return true
		}
		for _, b := range o.DurableObjects {
			if _, ok := own.Class(b.Class); b.Script == script && !ok {
				err = invalid("class %s of script %s is still bound by script %s (durable_objects binding %s)",
					b.Class, script, o.Name, b.Name)
				return false
			}
		}
		return true
	})
	return err
}

// checkBindings checks that each of p's bindings names a class or script
// that exists: its own classes after the migrations, or another script's.
func (ss *scriptState) checkBindings(p *ScriptPut, classes []ScriptClass) error {
	own := &Script{Classes: classes}
	for _, b := range p.DurableObjects {
		if b.Script == "" || b.Script == p.Name {
			if _, ok := own.Class(b.Class); !ok {
				return invalid("durable_objects binding %s: script %s has no class %s (no migration creates it, or one deletes it)",
					b.Name, p.Name, b.Class)
			}
			continue
		}
		o := ss.get(b.Script)
		if o == nil {
			return invalid("durable_objects binding %s: no script %s is deployed", b.Name, b.Script)
		}
		if _, ok := o.Class(b.Class); !ok {
			return invalid("durable_objects binding %s: script %s has no class %s", b.Name, b.Script, b.Class)
		}
	}
	for _, b := range p.Services {
		if b.Service != p.Name && ss.get(b.Service) == nil {
			return invalid("service binding %s: no script %s is deployed", b.Name, b.Service)
		}
	}
	return nil
}

// delete removes a script. A script another script binds (a Durable
// Object or service binding) is refused, as deleting the class would be.
func (ss *scriptState) delete(name string) *ScriptResponse {
	if ss.get(name) == nil {
		return &ScriptResponse{}
	}
	var err error
	ss.scripts.Ascend(func(o *Script) bool {
		if o.Name == name {
			return true
		}
		for _, b := range o.DurableObjects {
			if b.Script == name {
				err = invalid("script %s is still bound by script %s (durable_objects binding %s)", name, o.Name, b.Name)
				return false
			}
		}
		for _, b := range o.Services {
			if b.Service == name {
				err = invalid("script %s is still bound by script %s (service binding %s)", name, o.Name, b.Name)
				return false
			}
		}
		return true
	})
	if err != nil {
		return &ScriptResponse{Found: true, Err: err}
	}
	ss.scripts.Delete(&Script{Name: name})
	return &ScriptResponse{Found: true}
}

// putSecret sets a secret of a deployed script; Found is false (nothing
// changed) when the script is absent.
func (ss *scriptState) putSecret(p *SecretPut) *ScriptResponse {
	old := ss.get(p.Script)
	if old == nil {
		return &ScriptResponse{}
	}
	s := *old
	s.Secrets = make([]Secret, 0, len(old.Secrets)+1)
	replaced := false
	for _, sec := range old.Secrets {
		if sec.Name == p.Name {
			sec.Value, replaced = p.Value, true
		}
		s.Secrets = append(s.Secrets, sec)
	}
	if !replaced {
		s.Secrets = append(s.Secrets, Secret{Name: p.Name, Value: p.Value})
		sort.Slice(s.Secrets, func(i, j int) bool { return s.Secrets[i].Name < s.Secrets[j].Name })
	}
	ss.scripts.ReplaceOrInsert(&s)
	return &ScriptResponse{Found: true, Version: s.Version}
}

// StoredScript returns the deployed script name as the machine stores
// it, shared: the caller must not modify it. The machine never changes a
// stored script (a change stores a new one), so while name's state stays
// the same, so does the pointer: a cache of what was built from a script
// (its compiled Worker, its env) is current while it holds this pointer.
func (m *Machine) StoredScript(name string) (*Script, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.scr.get(name)
	return s, s != nil
}

// Script returns the deployed script name, with its modules and secrets
// (the caller decides what leaves the node).
func (m *Machine) Script(name string) (Script, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.scr.get(name)
	if s == nil {
		return Script{}, false
	}
	return *s, true
}

// Scripts returns every deployed script by name, without modules' code
// or secrets' values (Secrets holds the names only).
func (m *Machine) Scripts() []Script {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Script, 0, m.scr.scripts.Len())
	m.scr.scripts.Ascend(func(s *Script) bool {
		c := *s
		c.Modules = nil
		c.Secrets = nil
		for _, sec := range s.Secrets {
			c.Secrets = append(c.Secrets, Secret{Name: sec.Name})
		}
		out = append(out, c)
		return true
	})
	return out
}

// write appends the scripts to a snapshot, by name.
func (ss *scriptState) write(enc *msgpack.Encoder) error {
	var err error
	ss.scripts.Ascend(func(s *Script) bool {
		if err = enc.Encode(s); err != nil {
			err = fmt.Errorf("write script %s: %w", s.Name, err)
		}
		return err == nil
	})
	return err
}

// read loads n script records written by write.
func (ss *scriptState) read(dec *msgpack.Decoder, n int) error {
	for i := 0; i < n; i++ {
		var s Script
		if err := DecodeWhole(dec, &s); err != nil {
			return fmt.Errorf("read script %d: %w", i, err)
		}
		ss.scripts.ReplaceOrInsert(&s)
	}
	return nil
}

// writeScripts hashes the scripts, by name, for Digest: their msgpack
// records, length-prefixed. Nothing is written without scripts, so the
// digests of states without any stay as earlier builds computed them.
func (s *snapshot) writeScripts(w io.Writer) error {
	var err error
	s.scr.scripts.Ascend(func(sc *Script) bool {
		var b []byte
		if b, err = msgpack.Marshal(sc); err == nil {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			w.Write(n[:])
			w.Write(b)
		}
		return err == nil
	})
	return err
}
