package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project"
)

// devPoll is how often dev --app looks at the project's files. Polling
// mtimes works alike everywhere and needs no watcher library; a few dozen
// stats every 300 ms cost nothing.
const devPoll = 300 * time.Millisecond

// fileStamp is what a poll compares: a file's modification time and size
// (zero for a file that does not exist).
type fileStamp struct {
	mod  time.Time
	size int64
}

// watchApp deploys the project in dir through the first of nodes that
// is up (deployTo: node 1 unless it is down), then redeploys it each
// time one of its files changes, until ctx is done. Each outcome goes to
// w: the new version and the Workers' URLs, or the error (a bad project
// names its file, line and field); a failed deploy leaves the previous
// version serving.
func watchApp(ctx context.Context, w io.Writer, nodes []*client.Client, dir string, workers []string, every time.Duration) {
	var known []string // the files of the last deploy that got as far as loading
	for {
		files := append(configFiles(dir), known...)
		seen := stamps(files)
		out, got, err := uploadProject(ctx, w, nodes, dir, time.Now())
		if got != nil {
			known = got
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fmt.Fprintf(w, "dobj dev: %v\n  (the previous version keeps serving; save a fix to redeploy)\n", err)
		default:
			fmt.Fprintf(w, "dobj dev: deployed %s version %d; Workers: %s\n", out.Script, out.Version, strings.Join(workers, " "))
		}
		// Files new to the watch (an import added) count from now.
		for _, f := range known {
			if _, ok := seen[f]; !ok {
				seen[f] = stamp(f)
			}
		}
		if !waitChange(ctx, seen, every) {
			return
		}
	}
}

// configFiles are the configuration files project.Load looks for in dir:
// creating, editing or removing any of them redeploys.
func configFiles(dir string) []string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	var files []string
	for _, name := range project.ConfigFiles {
		files = append(files, filepath.Join(abs, name))
	}
	return files
}

func stamp(file string) fileStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

func stamps(files []string) map[string]fileStamp {
	m := make(map[string]fileStamp, len(files))
	for _, f := range files {
		m[f] = stamp(f)
	}
	return m
}

// waitChange polls the files of seen every interval until one differs
// (true) or ctx is done (false).
func waitChange(ctx context.Context, seen map[string]fileStamp, every time.Duration) bool {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		for f, s := range seen {
			if now := stamp(f); !now.mod.Equal(s.mod) || now.size != s.size {
				return true
			}
		}
	}
}
