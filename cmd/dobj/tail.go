package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project"
)

// tailRetry is how long tail waits before following a node again after
// its stream ended (the node restarted, say).
const tailRetry = time.Second

// tailVerb: dobj tail [SCRIPT]. It follows the script on every member of
// the cluster (each node streams only the lines it logs: a Worker's on
// the node that took the request, an object's on the leader) and prints
// one line each as they come, until Ctrl-C.
func tailVerb(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "tail", args, 0, 1, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	var script string
	if len(pos) == 1 {
		script = pos[0]
	} else {
		cfg, err := project.Load(".", time.Now())
		if errors.Is(err, project.ErrNoConfig) {
			return fmt.Errorf("%w: dobj tail: name the script outside a project directory", errUsage)
		}
		if err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		script = cfg.Name
	}
	st, err := c.Status(ctx)
	if err != nil {
		return problem(cf, err)
	}
	scheme := "http"
	if u, err := url.Parse(c.URL()); err == nil {
		scheme = u.Scheme
	}
	var mu sync.Mutex // one line at a time
	var wg sync.WaitGroup
	for _, m := range st.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			followNode(ctx, e, &mu, c.At(scheme+"://"+m.HTTPAddr), m.ID, script)
		}()
	}
	wg.Wait()
	return nil
}

// followNode follows script on one node until ctx is done, following it
// again after a stream ends.
func followNode(ctx context.Context, e env, mu *sync.Mutex, c *client.Client, id, script string) {
	for ctx.Err() == nil {
		err := c.Tail(ctx, script, func(ev client.TailEvent) error {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ev.Ready:
				fmt.Fprintf(e.stderr, "dobj tail: following %s on %s (%s)\n", script, id, c.URL())
			case ev.Line != nil:
				printTailLine(e.stdout, ev.Line)
			default:
				fmt.Fprintf(e.stderr, "dobj tail: %s dropped %d lines so far: this terminal fell behind\n", id, ev.Dropped)
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		mu.Lock()
		fmt.Fprintf(e.stderr, "dobj tail: %s: %v; again in %v\n", id, err, tailRetry)
		mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(tailRetry):
		}
	}
}

// printTailLine prints l as "TIME NODE LEVEL [Class object] message".
func printTailLine(w io.Writer, l *client.TailLine) {
	where := ""
	if l.Class != "" {
		where = " [" + l.Class + " " + l.Object + "]"
	}
	fmt.Fprintf(w, "%s %s %s%s %s\n", l.Time.Format("15:04:05.000"), l.Node, l.Level, where, l.Message)
}
