package main

import (
	"context"

	"github.com/dobj/dobj/bench"
)

// benchVerb is `dobj bench`; bench.NewCommand defines its flags. Without
// --urls it runs this same binary's `serve` as a local three-node cluster.
func benchVerb(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("bench")
	cmd := bench.NewCommand(fs)
	pos, err := parseFlags(e, "bench", fs, args, false)
	if err != nil {
		return helpOK(err)
	}
	if len(pos) > 0 {
		return usageError("bench")
	}
	return cmd.Run(ctx, e.stdout, e.stderr)
}
