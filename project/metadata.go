package project

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dobj/dobj/apitypes"
)

// Metadata is the upload's metadata part for the project (PUT
// /_scripts/<name>): the bundle is one module named after main, with a
// .js extension.
func (cfg *Config) Metadata() (apitypes.ScriptMetadata, error) {
	base := filepath.Base(cfg.Main)
	meta := apitypes.ScriptMetadata{MainModule: strings.TrimSuffix(base, filepath.Ext(base)) + ".js",
		CompatibilityDate: cfg.CompatibilityDate, CompatibilityFlags: cfg.CompatibilityFlags}
	for _, b := range cfg.DurableObjects {
		meta.Bindings = append(meta.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingDurableObject, Name: b.Name,
			ClassName: b.ClassName, ScriptName: b.ScriptName})
	}
	for _, s := range cfg.Services {
		meta.Bindings = append(meta.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingService, Name: s.Binding,
			Service: s.Service, Entrypoint: s.Entrypoint})
	}
	names := make([]string, 0, len(cfg.Vars))
	for name := range cfg.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if text, ok := cfg.Vars[name].(string); ok {
			meta.Bindings = append(meta.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingText, Name: name, Text: text})
			continue
		}
		v, err := json.Marshal(cfg.Vars[name])
		if err != nil {
			return meta, fmt.Errorf("vars.%s: %w", name, err)
		}
		meta.Bindings = append(meta.Bindings, apitypes.ScriptBinding{Type: apitypes.BindingJSON, Name: name, JSON: v})
	}
	for _, m := range cfg.Migrations {
		sm := apitypes.ScriptMigration{Tag: m.Tag, NewClasses: m.NewClasses, NewSQLiteClasses: m.NewSQLiteClasses,
			DeletedClasses: m.DeletedClasses}
		for _, r := range m.RenamedClasses {
			sm.RenamedClasses = append(sm.RenamedClasses, apitypes.RenamedClass{From: r.From, To: r.To})
		}
		meta.Migrations = append(meta.Migrations, sm)
	}
	for _, r := range cfg.Routes {
		meta.Routes = append(meta.Routes, apitypes.ScriptRoute{Pattern: r.Pattern, ZoneName: r.ZoneName, CustomDomain: r.CustomDomain})
	}
	return meta, nil
}
