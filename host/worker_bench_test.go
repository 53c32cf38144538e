package host

import (
	"context"
	"fmt"
	"net/http"
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
			_, err := leader.host.RPC(ctx, key, classes.StubID{ID: ns.IDFromName(name).String()}, "increment", []byte("[]"))
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
