package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// class-increment (issue 14): the increment of the seed's counter as a
// deployed object class, to set beside the built-in increment. Each call
// runs the class's fetch on the leader and commits its write as one Raft
// command, like the built-in route.

// benchClassName is the class the class-increment op calls.
const benchClassName = "DobjBenchCounter"

// benchClassSource is a counter class: POST /increment adds one to the
// integer at key "value" and answers it.
const benchClassSource = `
export class DobjBenchCounter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const value = ((await this.ctx.storage.get("value")) ?? 0) + 1;
    await this.ctx.storage.put("value", value);
    return Response.json({value});
  }
}
`

// deployBenchClass deploys benchClassSource through base, retrying while
// the cluster has no leader.
func deployBenchClass(ctx context.Context, hc *httpClient, base string) error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if err = hc.do(http.MethodPut, base+"/_classes/"+benchClassName+"?lang=js", []byte(benchClassSource)); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // no leader yet: try again
	}
	return fmt.Errorf("bench: deploy the class-increment class: %w", err)
}
