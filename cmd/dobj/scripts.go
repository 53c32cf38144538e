package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project"
)

// Verbs of Workers scripts (issue 20): deploy [DIR], scripts, secret put.

// projectDir says whether deploy's argument is a project directory: none
// (the current directory) or a directory.
func projectDir(pos []string) (string, bool) {
	if len(pos) == 0 {
		return ".", true
	}
	if fi, err := os.Stat(pos[0]); err == nil && fi.IsDir() {
		return pos[0], true
	}
	return "", false
}

// deployProject loads the project in dir (today is the compatibility date
// of one that gives none), bundles its main module here and uploads it
// with its configuration. Anything wrong with the project is an error
// naming the file, line and field, before anything is sent.
func deployProject(ctx context.Context, e env, c *client.Client, cf *clientFlags, dir string, today time.Time) error {
	out, _, err := uploadProject(ctx, e.stderr, []*client.Client{c}, dir, today)
	var ue uploadError
	if errors.As(err, &ue) {
		return problem(cf, ue.err)
	}
	if err != nil {
		return err
	}
	return printJSON(e.stdout, out)
}

// uploadError is uploadProject's failure to upload (the project itself
// was good): the client's error, which problem explains.
type uploadError struct{ err error }

func (u uploadError) Error() string { return u.err.Error() }

// uploadProject is deploy's work: load, bundle, upload through the
// first of nodes that takes it (deployTo); warnings go to warn. It
// returns the server's answer and the files the deployment was made from
// (absolute: the configuration file, main and every bundle input), as
// far as it got: dev --app watches them.
func uploadProject(ctx context.Context, warn io.Writer, nodes []*client.Client, dir string, today time.Time) (client.ScriptDeployed, []string, error) {
	var none client.ScriptDeployed
	cfg, err := project.Load(dir, today)
	if err != nil {
		return none, nil, fmt.Errorf("deploy %s: %w", dir, err)
	}
	files := []string{cfg.File, cfg.Main}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(warn, "warning: %s\n", w)
	}
	script, err := project.Bundle(cfg, project.BundleOptions{})
	if err != nil {
		return none, files, fmt.Errorf("deploy %s: %w", dir, err)
	}
	for _, in := range script.Inputs {
		files = append(files, filepath.Join(cfg.Dir, filepath.FromSlash(in)))
	}
	for _, w := range script.Warnings {
		fmt.Fprintf(warn, "warning: %s\n", w)
	}
	meta, err := cfg.Metadata()
	if err != nil {
		return none, files, fmt.Errorf("deploy %s: %w", dir, err)
	}
	modules := []client.ScriptModule{{Name: meta.MainModule, Content: script.Code}}
	out, err := deployTo(ctx, nodes, cfg.Name, meta, modules)
	if err != nil {
		return out, files, uploadError{err}
	}
	return out, files, nil
}

// deployTo uploads the script through nodes in order until one answers
// other than "unavailable": a node that is down (no answer) or that has
// no leader (503) leaves the next one to try. Trying again is safe: a
// deploy that did commit is redeployed with the same code, and
// migrations already applied are skipped. The last failure is returned
// when none took it.
func deployTo(ctx context.Context, nodes []*client.Client, name string, meta client.ScriptMetadata, modules []client.ScriptModule) (client.ScriptDeployed, error) {
	var out client.ScriptDeployed
	err := errors.New("no node to deploy to")
	for _, c := range nodes {
		out, err = c.DeployScript(ctx, name, meta, modules)
		var ce *client.Error
		if err == nil || ctx.Err() != nil || (errors.As(err, &ce) && ce.Status != http.StatusServiceUnavailable) {
			return out, err
		}
	}
	return out, err
}

// scriptsVerb: dobj scripts.
func scriptsVerb(ctx context.Context, e env, args []string) error {
	_, c, cf, err := clientVerb(e, "scripts", args, 0, 0, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	list, err := c.Scripts(ctx)
	if err != nil {
		return problem(cf, err)
	}
	if list == nil {
		list = []client.Script{}
	}
	return printJSON(e.stdout, map[string]any{"scripts": list})
}

// maxSecretInput bounds what secret put reads from stdin (the server
// refuses more than 5 KiB; reading a little past it lets it say so).
const maxSecretInput = 64 << 10

// secretVerb: dobj secret put NAME [--script S], the value on stdin.
func secretVerb(ctx context.Context, e env, args []string) error {
	var script string
	pos, c, cf, err := clientVerb(e, "secret", args, 2, 2, false, false, func(fs *flag.FlagSet) {
		fs.StringVar(&script, "script", "", "the script (default: the name of the project in the current directory)")
	})
	if err != nil {
		return helpOK(err)
	}
	if pos[0] != "put" {
		return usageError("secret")
	}
	if script == "" {
		cfg, err := project.Load(".", time.Now())
		if errors.Is(err, project.ErrNoConfig) {
			return fmt.Errorf("%w: dobj secret put: --script is required outside a project directory", errUsage)
		}
		if err != nil {
			return fmt.Errorf("secret put: %w", err)
		}
		script = cfg.Name
	}
	value, err := io.ReadAll(io.LimitReader(e.stdin, maxSecretInput))
	if err != nil {
		return fmt.Errorf("secret put: read the value from stdin: %w", err)
	}
	value = []byte(strings.TrimSuffix(strings.TrimSuffix(string(value), "\n"), "\r"))
	if err := c.PutSecret(ctx, script, pos[1], value); err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, map[string]string{"script": script, "secret": pos[1]})
}
