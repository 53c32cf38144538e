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
//
// rpc-increment: the same project's Counter.increment(1) called
// directly, without a Worker, through the operator route
// POST /_scripts/<script>/objects/Counter/<name>/rpc/increment sent to
// the nodes' API: what worker-increment costs beyond it is the Worker
// alone, with the same class and the same storage.
//
// The project lists its Counter under new_sqlite_classes, as the seed
// does, so its key-value pairs live in SQLite; Options.WorkerStorage
// WorkerStorageKV deploys it instead as the script
// dobj-bench-counter-kv, its Counter under new_classes (key-value
// storage, as class-increment's class has).

// The Counter's storage in the Worker ops' project, for
// Options.WorkerStorage and --worker-storage.
const (
	WorkerStorageSQLite = "sqlite" // the default: new_sqlite_classes, as workerapp's wrangler.toml
	WorkerStorageKV     = "kv"     // new_classes
)

// benchWorkerScript is the script the Worker ops' project is deployed
// as with storage: each storage its own script, so that one cluster can
// hold both (a class's storage cannot change once it has objects).
func benchWorkerScript(storage string) string {
	if storage == WorkerStorageKV {
		return "dobj-bench-counter-kv"
	}
	return "dobj-bench-counter"
}

// benchRPCPath is where rpc-increment calls the Counters of the script
// deployed for storage, before /<name>/rpc/increment.
func benchRPCPath(storage string) string {
	return "/_scripts/" + benchWorkerScript(storage) + "/objects/Counter"
}

// workerPortOffset places a local cluster's Worker listeners: node i at
// base+workerPortOffset+i-1, 8787 (wrangler dev's) for node 1 at the
// default base 8080.
const workerPortOffset = 707

//go:embed workerapp
var benchWorkerApp embed.FS

// deployBenchWorker bundles workerapp as dobj deploy does, with its
// Counter's storage as storage says, and uploads it through c,
// retrying while the cluster has no leader.
func deployBenchWorker(ctx context.Context, c *client.Client, storage string) error {
	var edit func(*project.Config)
	if storage == WorkerStorageKV {
		edit = func(cfg *project.Config) {
			cfg.Name = benchWorkerScript(storage)
			for i := range cfg.Migrations {
				m := &cfg.Migrations[i]
				m.NewClasses, m.NewSQLiteClasses = append(m.NewClasses, m.NewSQLiteClasses...), nil
			}
		}
	}
	return deployBenchProject(ctx, c, benchWorkerApp, "workerapp", "Worker", edit)
}

// deployBenchProject bundles the project at root of fsys as dobj deploy
// does, after edit (when not nil) has changed its configuration, and
// uploads it through c, retrying while the cluster has no leader; what
// names what needs it, for the errors.
func deployBenchProject(ctx context.Context, c *client.Client, fsys fs.FS, root, what string, edit func(*project.Config)) error {
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
		return fmt.Errorf("bench: write the %s project: %w", what, err)
	}
	cfg, err := project.Load(dir, time.Now())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if edit != nil {
		edit(cfg)
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
		return fmt.Errorf("bench: deploy the %s project: %w", what, err)
	}
	return nil
}
