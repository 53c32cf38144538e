package dobj_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the import path of this repository's module.
const module = "github.com/dobj/dobj"

// importRule forbids a package of the module to link a set of packages,
// directly or through any chain of imports.
type importRule struct {
	name   string
	from   string   // a package of the module, relative to its root
	banned []string // import paths, or paths relative to the module's root; each covers its subpackages
	why    string
	skip   string // non-empty: the rule is not met yet, and this says why
}

// importRules are the layering the tree keeps (README, "How the code is
// laid out"): what only talks HTTP stays off the server's packages.
var importRules = []importRule{
	{
		name:   "client-no-server",
		from:   "client",
		banned: []string{"cluster", "fsm", "classes"},
		why:    "the Go client talks HTTP; it shares only leaf types (apitypes, objects) with the server",
	},
	{
		name:   "client-no-raft-or-js",
		from:   "client",
		banned: []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", "github.com/dop251/goja", "github.com/evanw/esbuild"},
		why:    "a program that only talks HTTP links neither Raft, bbolt nor the JavaScript engine",
	},
	{
		name:   "cluster-no-classes",
		from:   "cluster",
		banned: []string{"classes", "host", "github.com/dop251/goja", "github.com/evanw/esbuild"},
		why:    "the Raft node knows object hosting only through an interface; the JavaScript engine is the host's",
	},
}

// importGraph maps each package of the build to the packages it imports
// (test files left out: they are not linked into a program).
type importGraph map[string][]string

// loadImportGraph lists the module's packages and all they depend on.
func loadImportGraph(t *testing.T) importGraph {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	g := importGraph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		g[f[0]] = f[1:]
	}
	return g
}

// resolve makes a path relative to the module's root a full import path.
func resolve(p string) string {
	if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
		return p
	}
	return module + "/" + p
}

// covers reports whether banned names pkg or a package below it.
func covers(banned, pkg string) bool {
	return pkg == banned || strings.HasPrefix(pkg, banned+"/")
}

// violations returns, for each package of g that rule bans and from
// reaches, the chain of imports that reaches it ("client -> x -> cluster").
func (g importGraph) violations(rule importRule) []string {
	from := resolve(rule.from)
	banned := make([]string, len(rule.banned))
	for i, b := range rule.banned {
		banned[i] = resolve(b)
	}
	// Breadth first from the rule's package, remembering how each package
	// was reached, so a violation names its shortest chain.
	via := map[string]string{from: ""}
	queue := []string{from}
	var found []string
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if slices.ContainsFunc(banned, func(b string) bool { return covers(b, pkg) }) {
			found = append(found, chain(via, pkg))
			continue
		}
		for _, imp := range g[pkg] {
			if _, seen := via[imp]; !seen {
				via[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	return found
}

// chain is the import path that led to pkg, module prefix trimmed.
func chain(via map[string]string, pkg string) string {
	var path []string
	for p := pkg; p != ""; p = via[p] {
		path = append(path, strings.TrimPrefix(p, module+"/"))
	}
	slices.Reverse(path)
	return strings.Join(path, " -> ")
}

func TestImportRules(t *testing.T) {
	g := loadImportGraph(t)
	for _, rule := range importRules {
		t.Run(rule.name, func(t *testing.T) {
			if _, ok := g[resolve(rule.from)]; !ok {
				t.Fatalf("package %s is not in the build", rule.from)
			}
			v := g.violations(rule)
			switch {
			case len(v) > 0 && rule.skip != "":
				t.Skipf("%s (links %s)", rule.skip, strings.Join(v, "; "))
			case len(v) == 0 && rule.skip != "":
				t.Errorf("the rule holds now: remove its skip (%q)", rule.skip)
			}
			for _, chain := range v {
				t.Errorf("%s links a banned package through %s: %s", rule.from, chain, rule.why)
			}
		})
	}
}

// TestImportRulesCatch shows each rule failing on a graph that breaks it,
// directly and through another package, and passing on one that keeps it.
func TestImportRulesCatch(t *testing.T) {
	for _, rule := range importRules {
		from := resolve(rule.from)
		for _, b := range rule.banned {
			bad := resolve(b) + "/sub"
			direct := importGraph{from: {"fmt", bad}}
			indirect := importGraph{from: {"fmt", module + "/mid"}, module + "/mid": {bad}}
			clean := importGraph{from: {"fmt", module + "/mid"}, module + "/mid": {"strings"}}
			if v := direct.violations(rule); len(v) != 1 || !strings.HasSuffix(v[0], strings.TrimPrefix(bad, module+"/")) {
				t.Errorf("%s -> %s: direct import not caught: %v", rule.from, b, v)
			}
			if v := indirect.violations(rule); len(v) != 1 || !strings.Contains(v[0], " -> mid -> ") {
				t.Errorf("%s -> %s: import through mid not caught: %v", rule.from, b, v)
			}
			if v := clean.violations(rule); len(v) != 0 {
				t.Errorf("%s: clean graph flagged: %v", rule.from, v)
			}
		}
	}
}
