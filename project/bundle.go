package project

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Format is the module format of a bundle.
type Format string

// Formats Bundle builds.
const (
	// ESM is an ES module, what Cloudflare runs: its imports of the
	// runtime's modules (cloudflare:workers, …) stay import statements.
	ESM Format = "esm"
	// IIFE is a script that leaves the module's exports in a global
	// variable, for a runtime that cannot load modules. Imports it keeps
	// external become require("…") calls the runtime must define, unless
	// BundleOptions.Builtins supplies them.
	IIFE Format = "iife"
)

// BundleOptions choose the bundle's shape; the zero value is an ESM bundle
// for a runtime that supplies every cloudflare:* module, as Cloudflare's.
type BundleOptions struct {
	// Format is ESM when empty.
	Format Format
	// GlobalName is the global variable an IIFE bundle assigns the
	// module's exports to; required for IIFE.
	GlobalName string
	// Target is the JavaScript version the code is lowered to; the zero
	// value is ES2022, as wrangler's.
	Target api.Target
	// Builtins are modules the bundle includes rather than importing:
	// specifier (such as "cloudflare:workers") to JavaScript source.
	Builtins map[string]string
	// SourceMap appends an inline source map (without sources), so that a
	// runtime can name the project's own files and lines in stack traces.
	SourceMap bool
	// Minify minifies the code (keeping names, which classes need).
	Minify bool
}

// Script is a project's main module bundled with everything it imports
// from the project and its node_modules.
type Script struct {
	Format Format
	Code   []byte
	// Exports are the names the main module exports ("default" among
	// them for a Worker), sorted.
	Exports []string
	// Inputs are the files the bundle was built from, relative to the
	// project directory with / separators, sorted.
	Inputs []string
	// Warnings are esbuild's, each "file:line:column: text".
	Warnings []string
}

// runtimeModules are the imports left to the runtime: Cloudflare's own.
const runtimeModules = `^cloudflare:`

// Bundle bundles cfg's main module (TypeScript or JavaScript; relative
// imports; packages from the project's node_modules; cloudflare:* left to
// the runtime) and checks that it exports every class the project binds
// without a script_name and every class its migrations leave.
//
// A file that does not build is a *ConfigError naming the source file, line
// and column; a class it does not export (or an entrypoint a service
// binding to the project itself names) is a *ConfigError naming the
// configuration file, line and field that require it.
func Bundle(cfg *Config, opts BundleOptions) (*Script, error) {
	format := opts.Format
	switch {
	case format == "":
		format = ESM
	case format != ESM && format != IIFE:
		return nil, fmt.Errorf("bundle %s: unknown format %q (want esm or iife)", cfg.Name, format)
	}
	if format == IIFE && opts.GlobalName == "" {
		return nil, fmt.Errorf("bundle %s: an iife bundle needs a global name", cfg.Name)
	}
	// The exports are known only from an ES module's metafile, so the
	// check builds ESM first in any case.
	res, err := build(cfg, opts, ESM)
	if err != nil {
		return nil, err
	}
	s := &Script{Format: format, Code: res.OutputFiles[0].Contents, Warnings: messages(cfg.Dir, res.Warnings)}
	if s.Exports, s.Inputs, err = readMetafile(cfg.Dir, res.Metafile); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", cfg.Name, err)
	}
	if err := cfg.checkExports(s.Exports); err != nil {
		return nil, err
	}
	if format == IIFE {
		if res, err = build(cfg, opts, IIFE); err != nil {
			return nil, err
		}
		s.Code = res.OutputFiles[0].Contents
	}
	return s, nil
}

// build runs esbuild once; an error is the first of esbuild's errors.
func build(cfg *Config, opts BundleOptions, format Format) (api.BuildResult, error) {
	target := opts.Target
	if target == api.DefaultTarget {
		target = api.ES2022
	}
	bo := api.BuildOptions{
		EntryPoints:   []string{cfg.Main},
		AbsWorkingDir: cfg.Dir,
		Outfile:       filepath.Join(cfg.Dir, "dist", "index.js"),
		Bundle:        true,
		Write:         false,
		Metafile:      true,
		Format:        api.FormatESModule,
		Target:        target,
		// As wrangler: neutral platform, Workers' export conditions, and
		// packages' module entry before their main.
		Platform:          api.PlatformNeutral,
		Conditions:        []string{"workerd", "worker", "browser"},
		MainFields:        []string{"module", "main"},
		Charset:           api.CharsetUTF8,
		KeepNames:         true,
		MinifySyntax:      opts.Minify,
		MinifyWhitespace:  opts.Minify,
		MinifyIdentifiers: opts.Minify,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{modulesPlugin(opts.Builtins)},
		Define:            cfg.Define,
		Alias:             cfg.Alias,
	}
	if format == IIFE {
		bo.Format, bo.GlobalName = api.FormatIIFE, opts.GlobalName
	}
	if opts.SourceMap {
		bo.Sourcemap, bo.SourcesContent = api.SourceMapInline, api.SourcesContentExclude
	}
	res := api.Build(bo)
	if len(res.Errors) > 0 {
		return res, buildError(cfg, res.Errors)
	}
	if len(res.OutputFiles) != 1 {
		return res, fmt.Errorf("bundle %s: esbuild gave %d outputs, want 1", cfg.Name, len(res.OutputFiles))
	}
	return res, nil
}

// modulesPlugin leaves cloudflare:* imports external and resolves the
// builtins to their sources.
func modulesPlugin(builtins map[string]string) api.Plugin {
	return api.Plugin{
		Name: "dobj-runtime-modules",
		Setup: func(b api.PluginBuild) {
			if len(builtins) > 0 {
				names := make([]string, 0, len(builtins))
				for name := range builtins {
					names = append(names, regexp.QuoteMeta(name))
				}
				slices.Sort(names)
				filter := `^(` + strings.Join(names, "|") + `)$`
				b.OnResolve(api.OnResolveOptions{Filter: filter}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
					return api.OnResolveResult{Path: a.Path, Namespace: "dobj-builtin"}, nil
				})
				b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "dobj-builtin"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
					src := builtins[a.Path]
					return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
				})
			}
			b.OnResolve(api.OnResolveOptions{Filter: runtimeModules}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				return api.OnResolveResult{Path: a.Path, External: true}, nil
			})
		},
	}
}

// buildError is esbuild's first error as a *ConfigError at its source
// file and line.
func buildError(cfg *Config, msgs []api.Message) error {
	m := msgs[0]
	ce := &ConfigError{File: cfg.Main, Message: m.Text}
	if l := m.Location; l != nil {
		if l.File != "" {
			ce.File = filepath.Join(cfg.Dir, filepath.FromSlash(l.File))
		}
		ce.Line, ce.Column = l.Line, l.Column+1
	}
	if len(msgs) > 1 {
		ce.Message += fmt.Sprintf(" (and %d more errors)", len(msgs)-1)
	}
	return ce
}

// messages formats esbuild's warnings as file:line:column: text.
func messages(dir string, msgs []api.Message) []string {
	var out []string
	for _, m := range msgs {
		s := m.Text
		if l := m.Location; l != nil {
			s = fmt.Sprintf("%s:%d:%d: %s", filepath.Join(dir, filepath.FromSlash(l.File)), l.Line, l.Column+1, m.Text)
		}
		out = append(out, s)
	}
	return out
}

// metafile is the part of esbuild's metafile Bundle reads.
type metafile struct {
	Inputs  map[string]json.RawMessage `json:"inputs"`
	Outputs map[string]struct {
		EntryPoint string   `json:"entryPoint"`
		Exports    []string `json:"exports"`
	} `json:"outputs"`
}

// readMetafile returns the entry point's exports and the input files.
func readMetafile(dir, meta string) (exports, inputs []string, err error) {
	var m metafile
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return nil, nil, fmt.Errorf("read esbuild's metafile: %w", err)
	}
	found := false
	for _, out := range m.Outputs {
		if out.EntryPoint != "" {
			exports, found = append(exports, out.Exports...), true
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("esbuild's metafile has no entry point")
	}
	for in := range m.Inputs {
		if strings.Contains(in, ":") { // a builtin's namespace:path
			continue
		}
		inputs = append(inputs, filepath.ToSlash(in))
	}
	slices.Sort(exports)
	slices.Sort(inputs)
	return exports, inputs, nil
}

// checkExports fails for the first class the project needs that exports
// lacks: each class bound without a script_name, then each class the
// migrations leave.
func (c *Config) checkExports(exports []string) error {
	main, err := filepath.Rel(c.Dir, c.Main)
	if err != nil {
		main = c.Main
	}
	missing := func(f field, class string) error {
		list := "nothing"
		if len(exports) > 0 {
			list = strings.Join(exports, ", ")
		}
		return c.errorAt(f, "class %s is not exported by %s (it exports %s)", class, filepath.ToSlash(main), list)
	}
	for i, b := range c.DurableObjects {
		if b.ScriptName == "" && !slices.Contains(exports, b.ClassName) {
			return missing(field{"durable_objects", "bindings", i, "class_name"}, b.ClassName)
		}
	}
	for _, cl := range c.Classes() {
		if !slices.Contains(exports, cl.Name) {
			return missing(c.classField(cl.Name), cl.Name)
		}
	}
	// A service binding to the project itself names an entrypoint of
	// its own main module; another script's is the server's to check.
	for i, s := range c.Services {
		if s.Service == c.Name && s.Entrypoint != "" && !slices.Contains(exports, s.Entrypoint) {
			return c.errorAt(field{"services", i, "entrypoint"}, "entrypoint %s is not exported by %s (service binding %s)",
				s.Entrypoint, filepath.ToSlash(main), s.Binding)
		}
	}
	return nil
}

// classField is the migration field that last gave a class its name.
func (c *Config) classField(class string) field {
	var at field
	for i, m := range c.Migrations {
		f := field{"migrations", i}
		for j, n := range m.NewClasses {
			if n == class {
				at = f.at("new_classes").at(j)
			}
		}
		for j, n := range m.NewSQLiteClasses {
			if n == class {
				at = f.at("new_sqlite_classes").at(j)
			}
		}
		for j, r := range m.RenamedClasses {
			if r.To == class {
				at = f.at("renamed_classes").at(j).at("to")
			}
		}
	}
	return at
}
