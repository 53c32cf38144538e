// Command dobj is the dobj server and its command-line tools: `serve` runs
// one node, `dev` a local three-node cluster, and the client verbs (incr,
// get, put, …) talk to any node over HTTP. It only parses arguments and
// wires the packages together: config → cluster + api for serve, client
// for the verbs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// env is what every verb gets from the process: its environment and its
// output streams.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// verb is one subcommand of dobj.
type verb struct {
	usage   string // arguments, after the verb's name
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// verbs is the dispatch table. A new subcommand is one more entry.
func verbs() map[string]verb {
	return map[string]verb{
		"serve": {"--id ID [settings]", "run one node (dobj serve --help lists the settings)", serve},
		"dev":   {"[--dir data/dev] [--base-port 8080] [-- serve settings]", "run a local three-node cluster until Ctrl-C", dev},

		"incr":   {"NAME [--by N] [--key K]", "increment a counter", incr},
		"decr":   {"NAME [--by N] [--key K]", "decrement a counter", decr},
		"get":    {"NAME [KEY]", "read a counter, or the storage value at KEY", get},
		"put":    {"NAME KEY JSON", "store a JSON value at KEY", put},
		"del":    {"NAME KEY | NAME --all", "delete KEY, or every key of the object", del},
		"list":   {"NAME [--prefix P] [--start K] [--start-after K] [--end K] [--limit N] [--reverse]", "list an object's keys and values", list},
		"txn":    {"NAME JSON", "run a transaction (the body of POST /NAME/transaction)", txn},
		"status": {"", "show the cluster as a node sees it", status},

		"watch":   {"NAME [--prefix P] [--since N]", "print an object's changes as they apply, one JSON line each; resumes across reconnects", watchVerb},
		"objects": {"[--prefix P] [--start-after NAME] [--limit N] [--all]", "list objects with their key counts and bytes", objectsVerb},

		"bench": {"[-c N] [--duration 10s] [--mix increment=1] [--objects N] [--urls U,...] [--target dobj|etcd] [--json]", "closed-loop load: ops/s, p50/p95/p99/max latency, errors; starts its own local cluster unless --urls", benchVerb},
		"check": {"[--duration 60s] [--workload all] [--nemesis all] [--clients 8] [--urls U,...] [--bug NAME] [--out DIR] [--base-port 31000] [--seed N] [--visualize]", "Jepsen-style linearizability check of a three-node cluster under faults; exit 0 only if it passes", checkVerb},
	}
}

// errUsage marks an error whose message is a usage line.
var errUsage = errors.New("usage")

// run is main without the process: it dispatches args[0] to its verb.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	table := verbs()
	if len(args) == 0 {
		printUsage(stderr, table)
		return fmt.Errorf("%w: dobj VERB [arguments]", errUsage)
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		printUsage(stdout, table)
		return nil
	}
	v, ok := table[name]
	if !ok {
		printUsage(stderr, table)
		return fmt.Errorf("%w: unknown verb %q", errUsage, name)
	}
	return v.run(ctx, e, args[1:])
}

func printUsage(w io.Writer, table map[string]verb) {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "dobj: a replicated Durable-Objects-like store on Raft.\n\nUsage:")
	for _, n := range names {
		v := table[n]
		fmt.Fprintf(w, "  dobj %s %s\n        %s\n", n, v.usage, v.summary)
	}
	fmt.Fprintln(w, "\nClient verbs take --url (default $DOBJ_URL or "+defaultURL+"); reads take --stale.")
}

// usageError is the error of a verb called with the wrong arguments.
func usageError(name string) error {
	return fmt.Errorf("%w: dobj %s %s", errUsage, name, strings.TrimSpace(verbs()[name].usage))
}
