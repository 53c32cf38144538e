package host

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/dobj/dobj/classes"
)

// BenchmarkScriptIncrement compares, on an in-memory three-node
// cluster's leader, an increment through a Worker and its stub with the
// same RPC made directly and with a /_classes class's fetch. Each
// parallel client has a counter of its own.
func BenchmarkScriptIncrement(b *testing.B) {
	c := newTestClusterWith(b, testHostConfig())
	leader := c.waitLeader(nil)
	deployScript(b, c, leader, "app", workerScript, "L")
	deployTest(b, leader, testCounterV1)
	var clients atomic.Int64
	run := func(b *testing.B, f func(ctx context.Context, name string) error) {
		b.RunParallel(func(pb *testing.PB) {
			name := fmt.Sprintf("c%d", clients.Add(1))
			ctx := context.Background()
			for pb.Next() {
				if err := f(ctx, name); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("worker", func(b *testing.B) {
		run(b, func(ctx context.Context, name string) error {
			_, err := leader.host.ServeWorker(ctx, "app", &classes.Request{Method: http.MethodPost,
				URL: "http://w/" + name + "/increment", Header: http.Header{}}, []byte(`{}`))
			return err
		})
	})
	key, ns, _ := leader.host.ResolveScriptClass("app", "Counter")
	b.Run("rpc", func(b *testing.B) {
		run(b, func(ctx context.Context, name string) error {
			_, err := leader.host.RPC(ctx, key, classes.StubID{ID: ns.IDFromName(name).String()}, "increment", []byte("[]"), "")
			return err
		})
	})
	b.Run("class-fetch", func(b *testing.B) {
		run(b, func(ctx context.Context, name string) error {
			_, err := leader.host.Call(ctx, "Counter", name, &classes.Request{Method: http.MethodPost,
				URL: "http://x/increment", Header: http.Header{}}, "")
			return err
		})
	})
}

// BenchmarkSQLIncrement compares, on an in-memory three-node cluster's
// leader, a counter kept in an SQLite-backed object's table (UPDATE …
// RETURNING, the SQL counter) with one kept in a key-value
// class's storage, both by RPC; 64 clients (SetParallelism on two
// cores), each with a counter of its own.
func BenchmarkSQLIncrement(b *testing.B) {
	c := newTestClusterWith(b, testHostConfig())
	leader := c.waitLeader(nil)
	deployScript(b, c, leader, "kv", scriptCounter, "L")
	deploySQLScript(b, c, leader, "app", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS c (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
  }
  increment() {
    return this.ctx.storage.sql.exec("INSERT INTO c VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET v = v + 1 RETURNING v").one().v;
  }
}
export default {};
`)
	var clients atomic.Int64
	for _, script := range []string{"kv", "app"} {
		key, ns, err := leader.host.ResolveScriptClass(script, "Counter")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[string]string{"kv": "key-value", "app": "sql"}[script], func(b *testing.B) {
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				name := fmt.Sprintf("c%d", clients.Add(1)%64) // the same 64 objects each round
				id := classes.StubID{ID: ns.IDFromName(name).String(), Name: name}
				for pb.Next() {
					if _, err := leader.host.RPC(context.Background(), key, id, "increment", []byte("[]"), ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
