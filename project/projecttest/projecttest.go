// Package projecttest gives tests of Workers projects what they need from
// outside Go: node and npm (installing Debian's nodejs and npm with
// apt-get when they are missing, as the browser test installs chromium)
// and an example project with its npm packages installed, once per test
// process. project's own tests and the end-to-end tests share it.
package projecttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// NodeTools returns the paths of node and npm, installing them with
// apt-get when they are missing. Where they cannot be had the test is
// skipped, saying why — or fails under CI=true, where a skip would hide a
// missing install step.
func NodeTools(t testing.TB) (node, npm string) {
	t.Helper()
	find := func() (string, string, bool) {
		n, err1 := exec.LookPath("node")
		if err1 != nil {
			n, err1 = exec.LookPath("nodejs")
		}
		m, err2 := exec.LookPath("npm")
		return n, m, err1 == nil && err2 == nil
	}
	if n, m, ok := find(); ok {
		return n, m
	}
	unavailable := func(why string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are missing: "+why, args...)
		}
		t.Skipf("test skipped: node and npm are missing: "+why, args...)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		unavailable("there is no apt-get to install them")
	}
	if os.Geteuid() != 0 {
		unavailable("installing them with apt-get needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "nodejs", "npm"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			unavailable("apt-get %s failed (%v): %s", strings.Join(args, " "), err, LastLines(string(out), 5))
		}
	}
	n, m, ok := find()
	if !ok {
		unavailable("apt-get installed nodejs and npm but they are not on PATH")
	}
	return n, m
}

// LastLines is the last n lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Installed is an example project with its packages installed: in place
// when its node_modules has them, else a copy in which npm installed them
// (writing no lock file), made once. A test package keeps one and calls
// Remove from its TestMain.
type Installed struct {
	once sync.Once
	dir  string
	err  error
}

// Dir returns the directory of example (a path to a project) with its
// packages installed; want is one package it must have (such as "hono").
func (in *Installed) Dir(t testing.TB, example, want string) string {
	t.Helper()
	_, npm := NodeTools(t)
	if _, err := os.Stat(filepath.Join(example, "node_modules", want)); err == nil {
		return example
	}
	in.once.Do(func() { in.dir, in.err = npmInstall(npm, example) })
	if in.err != nil {
		t.Fatal(in.err)
	}
	return in.dir
}

// Remove deletes the copy Dir made, if any.
func (in *Installed) Remove() {
	if in.dir != "" {
		os.RemoveAll(in.dir)
	}
}

// npmInstall copies example into a new directory and runs npm install
// there.
func npmInstall(npm, example string) (string, error) {
	dir, err := os.MkdirTemp("", filepath.Base(example)+"-")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
		return dir, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("npm install in a copy of %s: %v\n%s", example, err, LastLines(string(out), 20))
	}
	return dir, nil
}
