package main

import (
	"bytes"
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestEveryVerbHasHelp: `dobj X --help` prints, to stdout and with
// success, a one-line description, the usage, every flag with double
// dashes (one-letter aliases excepted) and a description, each default at
// most once, and an example; `dobj help` lists every verb.
func TestEveryVerbHasHelp(t *testing.T) {
	var names []string
	for n := range verbs() {
		names = append(names, n)
	}
	sort.Strings(names)
	flagLine := regexp.MustCompile(`^  (-\w, )?--[a-z][a-z0-9-]+( \S+)?$`)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{name, "--help"}, getenvOf(nil), &out, &errOut); err != nil {
				t.Fatalf("dobj %s --help: %v", name, err)
			}
			if errOut.Len() > 0 {
				t.Errorf("stderr: %s", errOut.String())
			}
			help := out.String()
			lines := strings.Split(help, "\n")
			if !strings.HasPrefix(lines[0], "dobj "+name+": ") || len(lines[0]) < len("dobj "+name+": ")+10 {
				t.Errorf("first line %q is not a description", lines[0])
			}
			for _, want := range []string{"\nUsage:\n  dobj " + name, "\nExample:\n  dobj " + name + " "} {
				if !strings.Contains(help, want) {
					t.Errorf("no %q in:\n%s", want, help)
				}
			}
			_, flagsPart, hasFlags := strings.Cut(help, "\nFlags:\n")
			flagsPart, _, _ = strings.Cut(flagsPart, "\nExample:")
			if name != "status" && !hasFlags {
				t.Fatalf("no flags listed:\n%s", help)
			}
			fl := strings.Split(strings.TrimRight(flagsPart, "\n"), "\n")
			for i := 0; hasFlags && i < len(fl); i += 2 {
				if !flagLine.MatchString(fl[i]) {
					t.Errorf("flag line %q: want '  --name TYPE' (or '  -x, --name TYPE')", fl[i])
				}
				if i+1 >= len(fl) || !strings.HasPrefix(fl[i+1], "        ") || len(strings.TrimSpace(fl[i+1])) < 4 {
					t.Errorf("flag %q has no description", fl[i])
					continue
				}
				if n := strings.Count(fl[i+1], "default"); n > 1 {
					t.Errorf("flag %q shows its default %d times: %q", fl[i], n, fl[i+1])
				}
			}
		})
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, getenvOf(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.Contains(out.String(), "  dobj "+name+" ") {
			t.Errorf("dobj help does not list %s:\n%s", name, out.String())
		}
	}
}
