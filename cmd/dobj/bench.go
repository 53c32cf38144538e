package main

import (
	"context"

	"github.com/dobj/dobj/bench"
)

// benchVerb is `dobj bench`; bench.Main parses its flags. Without --urls it
// runs this same binary's `serve` as a local three-node cluster.
func benchVerb(ctx context.Context, e env, args []string) error {
	return bench.Main(ctx, args, e.stdout, e.stderr)
}
