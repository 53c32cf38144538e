package dobj_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// goFileRef is a Go file named in a comment: "model.go", "api/errors.go".
	goFileRef = regexp.MustCompile(`\b[\w/]+\.go\b`)
	// docRef is a Markdown file named in a comment: "README.md".
	docRef = regexp.MustCompile(`\b[\w/.-]+\.md\b`)
)

// TestPackageDocsCiteTheTree: a package comment names only files of its
// package (or paths from the module's root) that exist, and no comment
// cites a Markdown file the repository does not hold, so the docs stay
// true to the tree when files move.
func TestPackageDocsCiteTheTree(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if f.Doc != nil {
			for _, ref := range goFileRef.FindAllString(f.Doc.Text(), -1) {
				if !exists(filepath.Join(dir, ref)) && !exists(ref) {
					t.Errorf("%s: the package comment names %s, which is not in %s", path, ref, dir)
				}
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, ref := range docRef.FindAllString(commentText(string(src)), -1) {
			if !exists(filepath.Join(dir, ref)) && !exists(ref) {
				t.Errorf("%s: a comment cites %s, which is not in the repository", path, ref)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// commentText is the text of src's // comments (enough for this tree,
// which writes no /* */ prose).
func commentText(src string) string {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if _, c, ok := strings.Cut(line, "// "); ok {
			b.WriteString(c)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
