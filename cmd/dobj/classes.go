package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/client"
)

// Verbs of object classes (issue 14): deploy, classes, call.

// deploy: dobj deploy [DIR] deploys a Workers project (scripts.go); dobj
// deploy FILE [--class NAME] a class. The language follows the file's
// extension; the class defaults to the module's only export.
func deploy(ctx context.Context, e env, args []string) error {
	var class string
	pos, c, cf, err := clientVerb(e, "deploy", args, 0, 1, false, false, func(fs *flag.FlagSet) {
		fs.StringVar(&class, "class", "", "the exported class to deploy, for a FILE (default: the module's only exported class)")
	})
	if err != nil {
		return helpOK(err)
	}
	if dir, ok := projectDir(pos); ok {
		if class != "" {
			return fmt.Errorf("%w: dobj deploy: --class is for a FILE; %s is a project directory", errUsage, dir)
		}
		return deployProject(ctx, e, c, cf, dir, time.Now())
	}
	source, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	lang := classes.JavaScript
	switch strings.ToLower(filepath.Ext(pos[0])) {
	case ".ts", ".mts", ".cts":
		lang = classes.TypeScript
	}
	if class == "" {
		names, err := classes.ExportedClasses(source, lang)
		if err != nil {
			return fmt.Errorf("deploy %s: %w", pos[0], err)
		}
		if len(names) != 1 {
			return fmt.Errorf("deploy %s: the module exports %d classes (%s); choose one with --class", pos[0], len(names), strings.Join(names, ", "))
		}
		class = names[0]
	}
	version, err := c.Deploy(ctx, class, source, string(lang))
	if err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, map[string]any{"class": class, "lang": lang, "version": version})
}

// classesVerb: dobj classes.
func classesVerb(ctx context.Context, e env, args []string) error {
	_, c, cf, err := clientVerb(e, "classes", args, 0, 0, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	list, err := c.Classes(ctx)
	if err != nil {
		return problem(cf, err)
	}
	if list == nil {
		list = []client.Class{}
	}
	return printJSON(e.stdout, map[string]any{"classes": list})
}

// call: dobj call CLASS NAME [PATH] [-X METHOD] [--data BODY]
// [--idempotency-key K]. It prints the answer's body; a status of 400 or
// more is also an error (exit 1), with the status on stderr.
func call(ctx context.Context, e env, args []string) error {
	var method, data string
	pos, c, cf, err := clientVerb(e, "call", args, 2, 3, false, true, func(fs *flag.FlagSet) {
		fs.StringVar(&method, "X", "", "HTTP method (default GET, or POST with --data)")
		fs.StringVar(&method, "request", "", "HTTP method (default GET, or POST with --data), as curl names it")
		fs.StringVar(&data, "data", "", "request body")
	})
	if err != nil {
		return helpOK(err)
	}
	req := client.CallRequest{Method: method, IdempotencyKey: cf.idemKey}
	if len(pos) == 3 {
		req.Path = pos[2]
	}
	if data != "" {
		req.Body = []byte(data)
		if req.Method == "" {
			req.Method = http.MethodPost
		}
	}
	resp, err := c.Call(ctx, pos[0], pos[1], req)
	if err != nil {
		return problem(cf, err)
	}
	e.stdout.Write(resp.Body)
	if len(resp.Body) > 0 && resp.Body[len(resp.Body)-1] != '\n' {
		fmt.Fprintln(e.stdout)
	}
	if resp.Status >= 400 {
		return fmt.Errorf("the object answered %d %s", resp.Status, http.StatusText(resp.Status))
	}
	return nil
}
