package api

import (
	"slices"
	"strings"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/fsm"
	"github.com/labstack/echo/v4"
)

// A deploy's bindings name exports of modules: a Durable Object
// binding's class_name (in this upload's main module, or in the script
// its script_name names) and a service binding's entrypoint (a
// WorkerEntrypoint class of the bound script). The FSM checks names
// against the scripts' migrations only — Apply does not load modules —
// so the route checks the exports before it proposes: a binding to an
// export the module lacks is a 400 naming the binding, nothing applied.
// The bound scripts are read after a read barrier (a script deployed
// through another node just before is seen); one redeployed between the
// check and the commit is not checked again. A bound script that is not
// deployed is left to the FSM, which refuses it.

// exportNeed is one export a binding needs.
type exportNeed struct {
	binding string // how the answer names the binding
	script  string // the script that must export it
	export  string
	what    string // "class" or "entrypoint"
}

// exportNeeds are the exports p's bindings need. A class another
// script lacks altogether (no migration made it) is left to the FSM,
// whose answer says so.
func (h *scriptRoutes) exportNeeds(p *fsm.ScriptPut) []exportNeed {
	var needs []exportNeed
	for _, b := range p.DurableObjects {
		script := b.Script
		if script == "" {
			script = p.Name
		} else if sc, ok := h.node.Script(script); ok && script != p.Name {
			if _, has := sc.Class(b.Class); !has {
				continue
			}
		}
		needs = append(needs, exportNeed{"durable_objects binding " + b.Name, script, b.Class, "class"})
	}
	for _, b := range p.Services {
		if b.Entrypoint != "" {
			needs = append(needs, exportNeed{"service binding " + b.Name, b.Service, b.Entrypoint, "entrypoint"})
		}
	}
	return needs
}

// checkExports refuses p when one of its bindings needs an export its
// module lacks (400, naming the binding).
func (h *scriptRoutes) checkExports(c echo.Context, p *fsm.ScriptPut) error {
	if len(p.DurableObjects) == 0 && len(p.Services) == 0 {
		return nil
	}
	if err := h.s.readConsistent(c); err != nil {
		return err
	}
	needs := h.exportNeeds(p)
	exports := map[string][]string{}
	for _, n := range needs {
		names, ok := exports[n.script]
		if !ok {
			var err error
			if names, ok, err = h.exportsOf(p, n.script); err != nil {
				return err
			}
			if !ok {
				continue // not deployed: the FSM answers
			}
			exports[n.script] = names
		}
		if !slices.Contains(names, n.export) {
			list := "no class"
			if len(names) > 0 {
				list = strings.Join(names, ", ")
			}
			return badRequest("%s: script %s does not export %s %s (it exports %s)", n.binding, n.script, n.what, n.export, list)
		}
	}
	return nil
}

// exportsOf is the classes script's main module exports: this upload's
// when it is p's, else the deployed script's (ok false when there is
// none). An uploaded module that does not load is a 400; a deployed one
// is not checked (ok false).
func (h *scriptRoutes) exportsOf(p *fsm.ScriptPut, script string) (names []string, ok bool, err error) {
	main, modules := p.MainModule, p.Modules
	if script != p.Name {
		sc, found := h.node.Script(script)
		if !found {
			return nil, false, nil
		}
		main, modules = sc.MainModule, sc.Modules
	}
	var source []byte
	for _, m := range modules {
		if m.Name == main {
			source = m.Content
		}
	}
	names, err = classes.ExportedClasses(source, classes.JavaScript)
	switch {
	case err == nil:
		return names, true, nil
	case script == p.Name:
		return nil, false, badRequest("the main module %s does not load: %v", main, err)
	}
	return nil, false, nil
}
