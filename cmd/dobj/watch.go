package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/dobj/dobj/client"
)

// watchVerb follows an object's changes and prints each as one JSON line
// ({"index","object","changes"}), reconnecting and resuming after the last
// index printed, on the --url node or, when it cannot serve, on the other
// members it listed at the start. It ends on Ctrl-C, after --count
// changes, or with an error when the node's history no longer reaches
// back to the resume point.
func watchVerb(ctx context.Context, e env, args []string) error {
	var o client.WatchOptions
	var count int
	pos, c, cf, err := clientVerb(e, "watch", args, 1, 1, false, false, func(fs *flag.FlagSet) {
		fs.StringVar(&o.Prefix, "prefix", "", "only keys starting with this")
		fs.Uint64Var(&o.Since, "since", 0, "resume after this log index (0: from now)")
		fs.IntVar(&count, "count", 0, "stop after this many changes (0: until Ctrl-C)")
	})
	if err != nil {
		return helpOK(err)
	}
	if st, err := c.Status(ctx); err == nil {
		// The other members, by the scheme this node is reached with:
		// a cluster serves TLS on every node or on none.
		scheme, _, _ := strings.Cut(c.URL(), "://")
		for _, m := range st.Members {
			if m.ID != st.ID && m.HTTPAddr != "" {
				o.Fallbacks = append(o.Fallbacks, scheme+"://"+m.HTTPAddr)
			}
		}
	}
	o.OnReconnect = func(url string, after uint64, cause error) {
		fmt.Fprintf(e.stderr, "watch: %v; resuming after %d on %s\n", cause, after, url)
	}
	printed := 0
	err = c.Watch(ctx, pos[0], o, func(ev client.WatchEvent) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err = fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
			return err
		}
		if printed++; count > 0 && printed >= count {
			return errCounted
		}
		return nil
	})
	var gone *client.GoneError
	switch {
	case errors.Is(err, errCounted):
		return nil
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil // Ctrl-C
	case errors.As(err, &gone):
		return fmt.Errorf("%w; read the object again and watch with --since its index", gone)
	case err != nil:
		return problem(cf, err)
	}
	return nil
}

// errCounted ends a watch that printed --count changes.
var errCounted = errors.New("printed --count changes")

// objectsVerb lists objects with their key counts and bytes: one page,
// or with --all every page.
func objectsVerb(ctx context.Context, e env, args []string) error {
	var o client.ObjectsOptions
	var all bool
	_, c, cf, err := clientVerb(e, "objects", args, 0, 0, true, false, func(fs *flag.FlagSet) {
		fs.StringVar(&o.Prefix, "prefix", "", "only names starting with this")
		fs.StringVar(&o.StartAfter, "start-after", "", "names after this one")
		fs.IntVar(&o.Limit, "limit", 0, "at most this many a page (0: the server's maximum)")
		fs.BoolVar(&all, "all", false, "follow every page")
	})
	if err != nil {
		return helpOK(err)
	}
	o.Stale = cf.stale
	out := client.ObjectsPage{Objects: []client.ObjectInfo{}}
	for {
		page, err := c.Objects(ctx, o)
		if err != nil {
			return problem(cf, err)
		}
		out.Objects = append(out.Objects, page.Objects...)
		out.More, out.NextStartAfter = page.More, page.NextStartAfter
		if !all || !page.More || page.NextStartAfter == "" {
			break
		}
		o.StartAfter = page.NextStartAfter
	}
	return printJSON(e.stdout, out)
}
