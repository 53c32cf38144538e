package bench

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project"
)

// worker-increment (issue 20): the seed's application as a Workers
// project (workerapp/, the seed's Counter and routes without hono), its
// POST /<name>/increment sent to the nodes' Worker listeners. Each
// request runs the Worker on the node that received it, which calls the
// Counter's increment over RPC on the leader: the same increment as
// class-increment, through a Worker and a stub.

// workerPortOffset places a local cluster's Worker listeners: node i at
// base+workerPortOffset+i-1, 8787 (wrangler dev's) for node 1 at the
// default base 8080.
const workerPortOffset = 707

//go:embed workerapp
var benchWorkerApp embed.FS

// deployBenchWorker bundles workerapp as dobj deploy does and uploads it
// through base, retrying while the cluster has no leader.
func deployBenchWorker(ctx context.Context, c *client.Client) error {
	return deployBenchProject(ctx, c, benchWorkerApp, "workerapp", "worker-increment")
}

// deployBenchProject bundles the project at root of fsys as dobj deploy
// does and uploads it through c, retrying while the cluster has no
// leader; op names what needs it, for the errors.
func deployBenchProject(ctx context.Context, c *client.Client, fsys fs.FS, root, op string) error {
	dir, err := os.MkdirTemp("", "dobj-bench-"+root+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sub, err := fs.Sub(fsys, root)
	if err == nil {
		err = os.CopyFS(dir, sub)
	}
	if err != nil {
		return fmt.Errorf("bench: write the %s project: %w", op, err)
	}
	cfg, err := project.Load(dir, time.Now())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	script, err := project.Bundle(cfg, project.BundleOptions{})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	meta, err := cfg.Metadata()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	modules := []client.ScriptModule{{Name: meta.MainModule, Content: script.Code}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err = c.DeployScript(ctx, cfg.Name, meta, modules); err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // no leader yet: try again
	}
	if err != nil {
		return fmt.Errorf("bench: deploy the %s project: %w", op, err)
	}
	return nil
}
