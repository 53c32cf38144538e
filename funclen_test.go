package dobj_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function outside tests may be, from its
// func keyword to its closing brace: past it, a function does several
// things that deserve names of their own.
const maxFuncLines = 80

// longFuncs returns "file:line name (n lines)" for each function or method
// of src longer than maxFuncLines.
func longFuncs(fset *token.FileSet, path string, src any) ([]string, error) {
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var long []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
		if n := end.Line - start.Line + 1; n > maxFuncLines {
			long = append(long, fmt.Sprintf("%s:%d %s (%d lines)", path, start.Line, funcName(fn), n))
		}
	}
	return long, nil
}

// funcName is fn's name, with its receiver's type for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	if g, ok := t.(*ast.IndexListExpr); ok {
		t = g.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// TestFuncLength: no function of the module outside its tests is longer
// than maxFuncLines, in any package.
func TestFuncLength(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		long, err := longFuncs(fset, path, nil)
		for _, l := range long {
			t.Errorf("%s: over %d lines; split it into steps with names of their own", l, maxFuncLines)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d Go files: is the test running in the module's root?", files)
	}
}

// TestFuncLengthCatches shows the count: a function of maxFuncLines lines
// passes, one line more is reported, methods by receiver.
func TestFuncLengthCatches(t *testing.T) {
	body := func(name string, lines int) string {
		// func line + (lines-2) statements + closing brace
		return name + " {\n" + strings.Repeat("\t_ = 0\n", lines-2) + "}\n"
	}
	src := "package p\n\ntype T struct{}\n\n" +
		body("func fits()", maxFuncLines) +
		body("func tooLong()", maxFuncLines+1) +
		body("func (t *T) method()", maxFuncLines+1) +
		"func declared()\n"
	long, err := longFuncs(token.NewFileSet(), "p.go", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("p.go:%d tooLong (%d lines)", 5+maxFuncLines, maxFuncLines+1),
		fmt.Sprintf("p.go:%d T.method (%d lines)", 5+2*maxFuncLines+1, maxFuncLines+1),
	}
	if strings.Join(long, "\n") != strings.Join(want, "\n") {
		t.Errorf("long functions:\n%s\nwant:\n%s", strings.Join(long, "\n"), strings.Join(want, "\n"))
	}
}
