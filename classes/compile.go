package classes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"
)

// Lang is a module's source language.
type Lang string

// Source languages.
const (
	JavaScript Lang = "js"
	TypeScript Lang = "ts"
)

// Limits of a module.
const (
	MaxSourceBytes    = 1 << 20 // 1 MiB
	MaxClassNameBytes = 64
)

// moduleGlobal is the global variable the bundled module's exports land in.
const moduleGlobal = "__dobj_module"

// compileCPULimit and compileHeapGrowth bound the module's top-level code
// when Compile and ExportedClasses evaluate it to find its exports.
const (
	compileCPULimit   = 5 * time.Second
	compileHeapGrowth = 64 << 20
)

// Program is a compiled module and the class it exports; one Program is
// shared by the runtimes of every object of the class.
type Program struct {
	class   string
	program *goja.Program
	source  string // the bundled JavaScript, for Code
	// env is the JSON object the constructor's env is made of (a
	// script's vars and secrets: WithEnv); nil: an empty object.
	env []byte
	// bindings, when set, are namespaces in env (WithBindings); envs is
	// the env made on each runtime.
	bindings *bindings
	envs     *sync.Map // *vm → goja.Value
}

// Class is the exported class the Program runs.
func (p *Program) Class() string { return p.class }

// Code is the JavaScript the module was bundled into (for debugging).
func (p *Program) Code() string { return p.source }

// CheckClassName returns ErrInvalidClassName unless name is a JavaScript
// identifier (letters, digits, _ and $, not starting with a digit) of at
// most MaxClassNameBytes bytes.
func CheckClassName(name string) error {
	if name == "" || len(name) > MaxClassNameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q is not 1 to %d bytes of UTF-8", ErrInvalidClassName, name, MaxClassNameBytes)
	}
	for i, r := range name {
		ok := r == '_' || r == '$' || unicode.IsLetter(r) || (i > 0 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)))
		if !ok {
			return fmt.Errorf("%w: %q is not a JavaScript identifier", ErrInvalidClassName, name)
		}
	}
	return nil
}

// Compile bundles a module with esbuild (stripping TypeScript's types),
// loads it in goja and checks that it exports class `class`. A syntax error
// or a missing export is a *CompileError naming the line; a source over
// MaxSourceBytes is ErrSourceTooLarge; a bad class name ErrInvalidClassName.
func Compile(class string, source []byte, lang Lang) (*Program, error) {
	if err := CheckClassName(class); err != nil {
		return nil, err
	}
	code, prog, err := bundle(source, lang)
	if err != nil {
		return nil, err
	}
	names, err := exportedClasses(prog)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, class) {
		return nil, missingExport(class, source, names)
	}
	return &Program{class: class, program: prog, source: code}, nil
}

// ExportedClasses lists the names of the classes a module exports, sorted
// (for `dobj deploy` to default the class). Errors are Compile's.
func ExportedClasses(source []byte, lang Lang) ([]string, error) {
	_, prog, err := bundle(source, lang)
	if err != nil {
		return nil, err
	}
	return exportedClasses(prog)
}

// bundle turns a module into a script that leaves its exports in
// moduleGlobal, and compiles that script for goja.
func bundle(source []byte, lang Lang) (string, *goja.Program, error) {
	if len(source) > MaxSourceBytes {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrSourceTooLarge, len(source), MaxSourceBytes)
	}
	loader := api.LoaderJS
	file := "class.js"
	switch lang {
	case JavaScript, "":
	case TypeScript:
		loader, file = api.LoaderTS, "class.ts"
	default:
		return "", nil, &CompileError{Message: fmt.Sprintf("unknown language %q (want js or ts)", lang)}
	}
	res := api.Build(api.BuildOptions{
		Stdin:      &api.StdinOptions{Contents: string(source), Sourcefile: file, Loader: loader},
		Bundle:     true,
		Format:     api.FormatIIFE,
		GlobalName: moduleGlobal,
		// goja runs ES2017 (classes, async/await) and some later syntax;
		// esbuild lowers the rest (class fields, object spread, ?. and ??).
		Target:   api.ES2017,
		Platform: api.PlatformNeutral,
		Charset:  api.CharsetUTF8,
		LogLevel: api.LogLevelSilent,
		Plugins:  []api.Plugin{workersModule},
		// An inline source map lets goja name the source's own lines in
		// stack traces, not the bundle's.
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		Write:          false,
	})
	if len(res.Errors) > 0 {
		return "", nil, esbuildError(res.Errors[0])
	}
	if len(res.OutputFiles) != 1 {
		return "", nil, &CompileError{Message: fmt.Sprintf("bundling gave %d outputs, want 1", len(res.OutputFiles))}
	}
	code := string(res.OutputFiles[0].Contents)
	boundRegexps() // before goja compiles the module's regexp literals
	prog, err := goja.Compile(file, code, true)
	if err != nil {
		// esbuild accepted it, so this is syntax goja lacks; its position is
		// in the bundled code, not the source.
		var se *goja.CompilerSyntaxError
		if errors.As(err, &se) {
			return "", nil, &CompileError{Message: "unsupported syntax in the bundled module: " + se.Message}
		}
		return "", nil, &CompileError{Message: "unsupported syntax in the bundled module: " + err.Error()}
	}
	return code, prog, nil
}

// esbuildError is esbuild's first error as a *CompileError.
func esbuildError(m api.Message) *CompileError {
	ce := &CompileError{Message: m.Text}
	if m.Location != nil {
		ce.Line, ce.Column = m.Location.Line, m.Location.Column
		if m.Location.File != "" && !strings.HasPrefix(m.Location.File, "class.") {
			ce.Message = m.Location.File + ": " + m.Text
		}
	}
	return ce
}

// workersModule resolves `import { DurableObject } from "cloudflare:workers"`
// to a base class that keeps ctx and env, as Cloudflare's does, so classes
// written for Workers load unchanged.
var workersModule = api.Plugin{
	Name: "cloudflare-workers",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `^cloudflare:workers$`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
			return api.OnResolveResult{Path: args.Path, Namespace: "dobj-builtin"}, nil
		})
		b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "dobj-builtin"}, func(api.OnLoadArgs) (api.OnLoadResult, error) {
			src := `export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
export class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
`
			return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
		})
	},
}

// exportedClasses evaluates the bundled module in a scratch runtime and
// returns the names of its exports that are classes.
func exportedClasses(prog *goja.Program) ([]string, error) {
	cfg := Config{CPULimit: compileCPULimit, MaxHeapGrowth: compileHeapGrowth}
	cfg.setDefaults()
	rt := goja.New()
	rt.SetMaxCallStackSize(cfg.MaxStackDepth)
	vm, err := newVM(rt, &cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	// The top level runs under the same watchdog as a call (CPU and heap),
	// with no storage.
	in := &instance{vm: vm}
	c := newCall(context.Background(), nil, &cfg)
	defer c.stop()
	in.begin(c)
	defer in.end()
	var names []string
	_, err = in.run(func() (goja.Value, error) {
		if _, err := rt.RunProgram(prog); err != nil {
			return nil, err
		}
		exports := rt.Get(moduleGlobal)
		if exports == nil || goja.IsUndefined(exports) || goja.IsNull(exports) {
			return nil, nil // a module without exports
		}
		obj := exports.ToObject(rt)
		for _, k := range obj.Keys() {
			if k == "default" { // not a name a class can be deployed under
				continue
			}
			v, err := vm.hooks.isClass(goja.Undefined(), obj.Get(k))
			if err != nil {
				return nil, err
			}
			if v.ToBoolean() {
				names = append(names, k)
			}
		}
		return nil, nil
	})
	var se *ScriptError
	switch {
	case err == nil:
	case errors.As(err, &se):
		return nil, &CompileError{Message: "the module's top-level code threw: " + se.Message}
	case errors.Is(err, ErrCPULimit):
		return nil, &CompileError{Message: fmt.Sprintf("the module's top-level code ran longer than %s", compileCPULimit)}
	default:
		return nil, &CompileError{Message: "the module's top-level code failed: " + err.Error()}
	}
	slices.Sort(names)
	return names, nil
}

// missingExport is the CompileError for a module that lacks class: it names
// the line declaring the class when there is one (declared, not exported).
func missingExport(class string, source []byte, exported []string) *CompileError {
	msg := fmt.Sprintf("the module does not export class %s", class)
	if len(exported) > 0 {
		msg += fmt.Sprintf(" (it exports %s)", strings.Join(exported, ", "))
	}
	re := regexp.MustCompile(`\bclass\s+` + regexp.QuoteMeta(class) + `\b`)
	loc := re.FindIndex(source)
	if loc == nil {
		return &CompileError{Message: msg}
	}
	before := source[:loc[0]]
	line := 1 + strings.Count(string(before), "\n")
	col := loc[0] - (strings.LastIndexByte(string(before), '\n') + 1)
	return &CompileError{Line: line, Column: col, Message: msg + ": it is declared here but not exported"}
}
