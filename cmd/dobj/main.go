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
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// verb is one subcommand of dobj; `dobj VERB --help` prints its summary,
// usage, notes, flags and example (writeHelp).
type verb struct {
	usage   string // arguments, after the verb's name
	summary string // one line
	run     func(ctx context.Context, e env, args []string) error
	example string // one command line
	notes   string // more, for --help only
}

// verbs is the dispatch table. A new subcommand is one more entry.
func verbs() map[string]verb {
	return map[string]verb{
		"serve": {"--id ID [settings]", "run one node of a cluster", serve,
			"dobj serve --id n1 --data-dir data/n1 --http-addr 127.0.0.1:8081 --raft-addr 127.0.0.1:9081 --peers n1=127.0.0.1:9081,n2=127.0.0.1:9082,n3=127.0.0.1:9083",
			"Every setting is a flag, or the environment variable DOBJ_NAME (--data-dir: DOBJ_DATA_DIR),\nor a key of the --config JSON file (data_dir); flags win, then the environment, then the file."},
		"dev": {"[--dir data/dev] [--base-port 8080] [-- serve settings]", "run a local three-node cluster until Ctrl-C", dev,
			"dobj dev --dir data/dev --base-port 8080 -- --log-level debug", ""},

		"incr":   {"NAME [--by N] [--key K]", "increment a counter", incr, "dobj incr card-1 --by 5 --url http://127.0.0.1:8082", ""},
		"decr":   {"NAME [--by N] [--key K]", "decrement a counter", decr, "dobj decr card-1 --key likes", ""},
		"get":    {"NAME [KEY]", "read a counter, or the storage value at KEY", get, "dobj get card-2 owner --stale", ""},
		"put":    {"NAME KEY JSON", "store a JSON value at KEY", put, `dobj put card-2 owner '{"name":"ada"}'`, ""},
		"del":    {"NAME KEY | NAME --all", "delete KEY, or every key of the object", del, "dobj del card-2 owner", ""},
		"list":   {"NAME [flags]", "list an object's keys and values, in key order", list, "dobj list card-2 --prefix o --limit 10", ""},
		"txn":    {"NAME JSON", "run a transaction (the body of POST /NAME/transaction)", txn, `dobj txn card-2 '{"compare":[{"key":"owner","op":"missing"}],"success":[{"op":"put","key":"owner","value":"ada"},{"op":"increment","key":"claims"}]}'`, ""},
		"status": {"", "show the cluster as a node sees it", status, "dobj status --url http://127.0.0.1:8082", ""},

		"watch":   {"NAME [--prefix P] [--since N]", "print an object's changes as they apply, one JSON line each; resumes across reconnects", watchVerb, "dobj watch card-1 --url http://127.0.0.1:8082", ""},
		"objects": {"[--prefix P] [--start-after NAME] [--limit N] [--all]", "list objects with their key counts and bytes", objectsVerb, "dobj objects --prefix card-", ""},
		"deploy": {"[DIR] | FILE [--class NAME]", "deploy a Workers project (DIR, default .), or a JavaScript (.js) or TypeScript (.ts) Durable Object class", deploy, "dobj deploy examples/hono-counter",
			"A directory (or no argument: the current one) is a project: its wrangler.toml, wrangler.json or\nwrangler.jsonc is read and main bundled here, and a project that cannot deploy fails before\nanything is sent, naming the file, line and field. A file is one class, as before."},
		"scripts": {"", "list the deployed Workers scripts, their classes and versions", scriptsVerb, "dobj scripts --url http://127.0.0.1:8082", ""},
		"tail": {"[SCRIPT]", "print a script's console.log lines from every node as they happen (admin)", tailVerb, "dobj tail hono-counter",
			"SCRIPT defaults to the name of the project in the current directory. Each node sends the lines it\nlogs: a Worker's where the request came in, an object's on the leader. A node drops lines for a\nclient that falls behind, and tail says so."},
		"secret": {"put NAME [--script S]", "set a secret of a script; the value is read from stdin", secretVerb, "dobj secret put API_TOKEN --script hono-counter < token.txt",
			"S defaults to the name of the project in the current directory. A trailing newline of the value is dropped."},
		"classes": {"", "list the deployed classes and their versions", classesVerb, "dobj classes --url http://127.0.0.1:8082", ""},
		"call":    {"CLASS NAME [PATH] [-X METHOD] [--data BODY] [--idempotency-key K]", "run fetch of object NAME of CLASS and print its answer", call, "dobj call Counter card-1 /increment -X POST", ""},
		"rpc": {"SCRIPT CLASS NAME METHOD [JSON-ARG…]", "call METHOD of object NAME of a script's CLASS, without a Worker, and print its JSON result (admin)", rpcVerb, `dobj rpc hono-counter Counter card-1 increment 5`,
			"Each argument is a JSON value; the object is the one env.X.idFromName(NAME) reaches from the script's Workers."},
		"sql": {"SCRIPT CLASS NAME QUERY [JSON-BINDING…]", "run a read-only SQL query on object NAME of a script's SQLite-backed CLASS and print its rows (admin)", sqlVerb,
			`dobj sql do-sql-counter Counter card-1 'SELECT * FROM counters WHERE name = ?' '"hits"'`,
			"The query is one statement that only reads (SQLite refuses any other), on the database of the\nobject env.X.idFromName(NAME) reaches; each binding is a JSON value. --stale reads this node's copy."},
		"members": {"", "list the cluster's members", members, "dobj members --url http://127.0.0.1:8082", ""},
		"join":    {"ID RAFT_ADDR [HTTP_ADDR]", "add a voter (admin)", joinVerb, "dobj join n4 127.0.0.1:9084 127.0.0.1:8084 --token $ADMIN", ""},
		"remove":  {"ID", "remove a member (admin)", remove, "dobj remove n4 --token $ADMIN", ""},
		"backup":  {"[> FILE]", "stream a consistent snapshot of the cluster to stdout (admin)", backupVerb, "dobj backup --url http://127.0.0.1:8081 > backup.dobj", ""},
		"restore": {"FILE --data-dir D --id ID [--raft-addr A]", "seed a new node's data directory from a backup; then dobj serve --data-dir D", restoreVerb, "dobj restore backup.dobj --data-dir data/r1 --id r1 --raft-addr 127.0.0.1:9091", ""},
		"certs":   {"--dir D --nodes n1,n2,n3 [--hosts h1,h2]", "write a CA and a certificate per node for TLS and peer mutual TLS", certsVerb, "dobj certs --dir certs --nodes n1,n2,n3 --hosts localhost", ""},

		"bench": {"[flags]", "closed-loop load: ops/s, p50/p95/p99/max latency, errors; starts its own local cluster unless --urls", benchVerb,
			"dobj bench -c 64 --duration 10s --mix increment=50,read=50", ""},
		"check": {"[flags]", "Jepsen-style linearizability check of a three-node cluster under faults; exit 0 only if it passes", checkVerb,
			"dobj check --duration 60s --workload counter --nemesis kill-leader,partition-leader --out check-out", ""},
	}
}

// errUsage marks an error whose message is a usage line.
var errUsage = errors.New("usage")

// run is main without the process: it dispatches args[0] to its verb.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr}
	table := verbs()
	if len(args) == 0 {
		printUsage(stderr, table)
		return fmt.Errorf("%w: dobj VERB [arguments]", errUsage)
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			// dobj help VERB is dobj VERB --help.
			if _, ok := table[args[1]]; ok {
				return helpOK(table[args[1]].run(ctx, e, []string{"--help"}))
			}
		}
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
	fmt.Fprintln(w, "\nClient verbs take --url (default $DOBJ_URL or "+defaultURL+"), --token (default $DOBJ_TOKEN)\nand --ca (default $DOBJ_CA) for https; reads take --stale.")
	fmt.Fprintln(w, "dobj VERB --help (or dobj help VERB) prints a verb's flags and an example.")
}

// usageError is the error of a verb called with the wrong arguments.
func usageError(name string) error {
	return fmt.Errorf("%w: dobj %s %s", errUsage, name, strings.TrimSpace(verbs()[name].usage))
}
