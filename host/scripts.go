package host

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// Script classes (issue 20): the Durable Object classes of a deployed
// script are hosted as /_classes classes are, on the one path of
// call.go, under a class key of their own, ScriptClass: the script's
// name and the name the class was created under (fsm.ScriptClass's
// CreatedAs, which renames keep), joined by ':', which neither a script
// name nor a class name can hold. So another script's Counter is
// another class, a renamed class keeps its objects, and the objects'
// storage is fsm.ClassObject(key, id) = "_do/<script>:<CreatedAs>/<id>"
// (id: the object's 64 hex digits), under the prefix /_classes objects
// use ("_do/<Class>/<name>", unchanged), so the alarm scheduler and the
// object listings treat both alike.
//
// A script's module is ESM as `dobj deploy` bundles it; the node turns it
// into a script goja runs with classes.Compile (esbuild's Go API: ESM to
// an IIFE, `cloudflare:workers` supplied by the runtime), once per class
// and script version, cached with the host's other programs (ref).

// scriptNamePattern is a script's name (api's scriptNamePattern).
var scriptNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ScriptClass is the class key of class createdAs of script: the name
// Call, RPC and the engine know it by.
func ScriptClass(script, createdAs string) string { return script + ":" + createdAs }

// splitScriptClass is ScriptClass's inverse; ok is false for a name of a
// /_classes class.
func splitScriptClass(key string) (script, createdAs string, ok bool) {
	return strings.Cut(key, ":")
}

// checkClassKey checks a class name or a script class key as the api
// checks the names it takes.
func checkClassKey(key string) error {
	script, class, ok := splitScriptClass(key)
	if !ok {
		return classes.CheckClassName(key)
	}
	if !scriptNamePattern.MatchString(script) {
		return fmt.Errorf("%q is not a script name", script)
	}
	return classes.CheckClassName(class)
}

// ResolveScriptClass returns the class key and id namespace of the class
// named class (its current name) of script, as this node's FSM holds
// the script. ErrClassNotFound when the script or class is not there.
func (h *Host) ResolveScriptClass(script, class string) (key string, ns objects.Namespace, err error) {
	sc, ok := h.node.FSM().Script(script)
	if !ok {
		return "", ns, fmt.Errorf("%w: no script %s", ErrClassNotFound, script)
	}
	c, ok := sc.Class(class)
	if !ok {
		return "", ns, fmt.Errorf("%w: script %s has no class %s", ErrClassNotFound, script, class)
	}
	return ScriptClass(script, c.CreatedAs), objects.NewNamespace(script, c.CreatedAs), nil
}

// scriptSource is source for a script's class: the script's main
// module, its version, and its vars and secrets as the env.
func (h *Host) scriptSource(script, createdAs string) (classSource, bool) {
	sc, ok := h.node.FSM().StoredScript(script)
	if !ok {
		return classSource{}, false
	}
	var class string
	for _, c := range sc.Classes {
		if c.CreatedAs == createdAs {
			class = c.Name
		}
	}
	main := mainModule(sc)
	if class == "" || main == nil {
		return classSource{}, false
	}
	env := func() []byte { return ScriptEnv(sc) }
	return classSource{version: sc.Version, from: sc, env: env, reentrant: true, compile: func() (*classes.Program, error) {
		prog, err := classes.Compile(class, main, classes.JavaScript)
		if err != nil {
			return nil, err
		}
		// Its objects call objects through env as its Worker does.
		return prog.WithBindings(h.scriptBindings(sc)), nil // namespaces, services, outbound
	}}, true
}

// mainModule is the content of the script's main module, nil when the
// script lacks it.
func mainModule(sc *fsm.Script) []byte {
	for _, m := range sc.Modules {
		if m.Name == sc.MainModule {
			return m.Content
		}
	}
	return nil
}

// ScriptEnv is the JSON object of a script's vars (their JSON values)
// and secrets (strings), the plain part of its env.
func ScriptEnv(sc *fsm.Script) []byte {
	env := make(map[string]json.RawMessage, len(sc.Vars)+len(sc.Secrets))
	for _, v := range sc.Vars {
		env[v.Name] = v.JSON
	}
	for _, s := range sc.Secrets {
		b, _ := json.Marshal(s.Value) // a string cannot fail
		env[s.Name] = b
	}
	b, _ := json.Marshal(env) // valid JSON values cannot fail; keys sorted
	return b
}
