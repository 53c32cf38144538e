package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
)

// newFlagSet returns an empty flag set for verb name. Every verb makes its
// flag set here and parses it with parseFlags, so that each prints its
// help, and reports a bad flag, the same way.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// parseFlags reports errors and prints the help itself: the flag
	// package's own usage is single-dashed and goes to stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs and returns the positional arguments.
// With interspersed, flags may come before, between or after them ("--"
// ends the flags); otherwise the first positional argument ends them. On
// -h or --help it prints the verb's help to stdout and returns
// flag.ErrHelp (helpOK makes that a success); a bad flag is a usage error
// that names it.
func parseFlags(e env, name string, fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	var pos []string
	var err error
	if interspersed {
		pos, err = parseArgs(fs, args)
	} else {
		err = fs.Parse(args)
		pos = fs.Args()
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		writeHelp(e.stdout, name, fs)
		return nil, flag.ErrHelp
	case err != nil:
		return nil, fmt.Errorf("%w: dobj %s: %v (dobj %s --help lists its flags)", errUsage, name, err, name)
	}
	return pos, nil
}

// writeHelp prints a verb's help: what it does, its synopsis, its flags
// (with double dashes, a description, a default shown once) and an example.
func writeHelp(w io.Writer, name string, fs *flag.FlagSet) {
	v := verbs()[name]
	fmt.Fprintf(w, "dobj %s: %s\n\nUsage:\n  dobj %s %s\n", name, v.summary, name, v.usage)
	if v.notes != "" {
		fmt.Fprintf(w, "\n%s\n", v.notes)
	}
	if fs != nil {
		if flags := flagHelp(fs); flags != "" {
			fmt.Fprintf(w, "\nFlags:\n%s", flags)
		}
	}
	if v.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", v.example)
	}
}

// flagHelp lists fs's flags in name order, aliases of one flag (flags
// bound to the same variable, like -c and --clients) on one line.
func flagHelp(fs *flag.FlagSet) string {
	type entry struct {
		names []string
		f     *flag.Flag // the longest name's: its usage is the real one
	}
	var entries []*entry
	byTarget := map[uintptr]*entry{}
	fs.VisitAll(func(f *flag.Flag) {
		if p := target(f.Value); p != 0 {
			if e, ok := byTarget[p]; ok {
				e.names = append(e.names, f.Name)
				if len(f.Name) > len(e.f.Name) {
					e.f = f
				}
				return
			}
			e := &entry{names: []string{f.Name}, f: f}
			byTarget[p] = e
			entries = append(entries, e)
			return
		}
		entries = append(entries, &entry{names: []string{f.Name}, f: f})
	})
	var b strings.Builder
	for _, e := range entries {
		sort.Slice(e.names, func(i, j int) bool { return len(e.names[i]) < len(e.names[j]) })
		dashed := make([]string, len(e.names))
		for i, n := range e.names {
			dashed[i] = "--" + n
			if len(n) == 1 {
				dashed[i] = "-" + n
			}
		}
		arg, usage := flag.UnquoteUsage(e.f)
		fmt.Fprintf(&b, "  %s", strings.Join(dashed, ", "))
		if arg != "" {
			fmt.Fprintf(&b, " %s", arg)
		}
		fmt.Fprintf(&b, "\n        %s", usage)
		if !isZeroDefault(e.f.DefValue) && !strings.Contains(usage, "default") {
			fmt.Fprintf(&b, " (default %s)", e.f.DefValue)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// target is the address of the variable a flag sets, so that two flags
// setting the same one are shown as one; 0 when it has none to compare.
func target(v flag.Value) uintptr {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return 0
	}
	return rv.Pointer()
}

// isZeroDefault tells a default not worth showing (the flag package's
// rule, which it does not export).
func isZeroDefault(def string) bool {
	switch def {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}
