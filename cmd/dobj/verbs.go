package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/pki"
)

const defaultURL = "http://127.0.0.1:8081"

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	url     string
	token   string // bearer token
	ca      string // CA file for https URLs
	stale   bool
	idemKey string
	timeout time.Duration
	write   bool // the verb writes: a lost answer leaves its outcome unknown
}

// newClientFlagSet makes the flag set of a client verb with the common
// flags; reads says whether --stale applies, writes whether
// --idempotency-key does.
func newClientFlagSet(e env, name string, reads, writes bool) (*flag.FlagSet, *clientFlags) {
	fs := newFlagSet(name)
	cf := &clientFlags{write: writes}
	def := e.getenv("DOBJ_URL")
	if def == "" {
		def = defaultURL
	}
	fs.StringVar(&cf.url, "url", def, "any node's base URL (env DOBJ_URL)")
	fs.DurationVar(&cf.timeout, "timeout", 15*time.Second, "give up after this long")
	fs.StringVar(&cf.token, "token", e.getenv("DOBJ_TOKEN"), "bearer token for a node started with --auth-file (env DOBJ_TOKEN)")
	fs.StringVar(&cf.ca, "ca", e.getenv("DOBJ_CA"), "CA certificate `file` to trust for an https --url (env DOBJ_CA; default: the system's roots)")
	if reads {
		fs.BoolVar(&cf.stale, "stale", false, "read this node's local state, without asking the leader")
	}
	if writes {
		fs.StringVar(&cf.idemKey, "idempotency-key", "", "a retry with the same key returns the first result and applies nothing again")
	}
	return fs, cf
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, which it returns; "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (cf *clientFlags) client() (*client.Client, error) {
	u, err := url.Parse(cf.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want a node's URL like %s", cf.url, defaultURL)
	}
	opts := []client.Option{client.WithToken(cf.token)}
	if cf.ca != "" {
		tc, err := pki.ClientConfig(cf.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		opts = append(opts, client.WithTLSConfig(tc))
	}
	opts = append(opts, client.WithTimeout(cf.timeout))
	return client.New(strings.TrimRight(cf.url, "/"), opts...), nil
}

// clientVerb parses args for a client verb wanting exactly nargs
// positional arguments (or between min and max), and returns them with a
// ready client.
func clientVerb(e env, name string, args []string, minArgs, maxArgs int, reads, writes bool, extra func(fs *flag.FlagSet)) ([]string, *client.Client, *clientFlags, error) {
	fs, cf := newClientFlagSet(e, name, reads, writes)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(e, name, fs, args, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, nil, nil, usageError(name)
	}
	c, err := cf.client()
	if err != nil {
		return nil, nil, nil, err
	}
	return pos, c, cf, nil
}

// problem turns an error from the client into what a person reads:
// "<status> <title>: <detail>" for an HTTP problem.
func problem(cf *clientFlags, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		msg := fmt.Sprintf("%d %s", ce.Status, ce.Title)
		if ce.Detail != "" {
			msg += ": " + ce.Detail
		}
		if ce.Unknown() && cf.write {
			// Only a verb that takes --idempotency-key can follow
			// this advice; the others say what a retry does
			// themselves (joinVerb, remove).
			msg += " (the write may or may not have been applied; retry with the same --idempotency-key to find out safely)"
		}
		return errors.New(msg)
	}
	unknown := ""
	if cf.write {
		unknown = " (the write may or may not have been applied)"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer from %s within %v%s: %w", cf.url, cf.timeout, unknown, err)
	}
	return fmt.Errorf("talking to %s%s: %w", cf.url, unknown, err)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

type counterOut struct {
	Name  string `json:"name"`
	Key   string `json:"key,omitempty"`
	Value int64  `json:"value"`
}

func incr(ctx context.Context, e env, args []string) error {
	return counterWrite(ctx, e, "incr", args, 1)
}
func decr(ctx context.Context, e env, args []string) error {
	return counterWrite(ctx, e, "decr", args, -1)
}

func counterWrite(ctx context.Context, e env, name string, args []string, sign int64) error {
	var by int64
	var key string
	pos, c, cf, err := clientVerb(e, name, args, 1, 1, false, true, func(fs *flag.FlagSet) {
		fs.Int64Var(&by, "by", 1, "amount to add (decr: to subtract)")
		fs.StringVar(&key, "key", "", "the counter's key in the object (default: value)")
	})
	if err != nil {
		return helpOK(err)
	}
	if sign < 0 {
		if by == math.MinInt64 {
			return fmt.Errorf("--by %d: too large to negate", by)
		}
		by = -by
	}
	v, err := c.Increment(ctx, pos[0], by, client.WriteOptions{Key: key, IdempotencyKey: cf.idemKey})
	if err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, counterOut{Name: pos[0], Key: key, Value: v})
}

func get(ctx context.Context, e env, args []string) error {
	var key string
	pos, c, cf, err := clientVerb(e, "get", args, 1, 2, true, false, func(fs *flag.FlagSet) {
		fs.StringVar(&key, "key", "", "read the counter at this key instead of value")
	})
	if err != nil {
		return helpOK(err)
	}
	ro := client.ReadOptions{Stale: cf.stale}
	if len(pos) == 1 {
		ro.Key = key
		v, err := c.Counter(ctx, pos[0], ro)
		if err != nil {
			return problem(cf, err)
		}
		return printJSON(e.stdout, counterOut{Name: pos[0], Key: key, Value: v})
	}
	v, found, err := c.Get(ctx, pos[0], pos[1], ro)
	if err != nil {
		return problem(cf, err)
	}
	if !found {
		return fmt.Errorf("404 not found: object %q has no key %q", pos[0], pos[1])
	}
	return printRaw(e.stdout, v)
}

// printRaw writes a JSON value as the server sent it, indented.
func printRaw(w io.Writer, v json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, v, "", "  "); err != nil {
		b.Reset()
		b.Write(v)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func put(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "put", args, 3, 3, false, true, nil)
	if err != nil {
		return helpOK(err)
	}
	value := json.RawMessage(pos[2])
	if !json.Valid(value) {
		return fmt.Errorf("JSON: %q is not valid JSON (a string needs quotes: '\"ada\"')", pos[2])
	}
	if err := c.Put(ctx, pos[0], pos[1], value, client.WriteOptions{IdempotencyKey: cf.idemKey}); err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, map[string]bool{"ok": true})
}

func del(ctx context.Context, e env, args []string) error {
	var all bool
	pos, c, cf, err := clientVerb(e, "del", args, 1, 2, false, true, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "delete every key of the object")
	})
	if err != nil {
		return helpOK(err)
	}
	wo := client.WriteOptions{IdempotencyKey: cf.idemKey}
	switch {
	case all && len(pos) == 1:
		n, err := c.DeleteAll(ctx, pos[0], wo)
		if err != nil {
			return problem(cf, err)
		}
		return printJSON(e.stdout, map[string]int64{"deleted": n})
	case !all && len(pos) == 2:
		deleted, err := c.Delete(ctx, pos[0], pos[1], wo)
		if err != nil {
			return problem(cf, err)
		}
		return printJSON(e.stdout, map[string]bool{"deleted": deleted})
	default:
		return usageError("del")
	}
}

func list(ctx context.Context, e env, args []string) error {
	var lo objects.ListOptions
	pos, c, cf, err := clientVerb(e, "list", args, 1, 1, true, false, func(fs *flag.FlagSet) {
		fs.StringVar(&lo.Prefix, "prefix", "", "only keys starting with this")
		fs.StringVar(&lo.Start, "start", "", "first key (inclusive)")
		fs.StringVar(&lo.StartAfter, "start-after", "", "list keys after this one")
		fs.StringVar(&lo.End, "end", "", "last key (exclusive)")
		fs.IntVar(&lo.Limit, "limit", 0, "at most this many entries (0: the server's maximum)")
		fs.BoolVar(&lo.Reverse, "reverse", false, "descending key order")
	})
	if err != nil {
		return helpOK(err)
	}
	entries, more, err := c.List(ctx, pos[0], lo, client.ReadOptions{Stale: cf.stale})
	if err != nil {
		return problem(cf, err)
	}
	if entries == nil {
		entries = []objects.Entry{}
	}
	return printJSON(e.stdout, struct {
		Entries []objects.Entry `json:"entries"`
		More    bool            `json:"more"`
	}{entries, more})
}

func txn(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "txn", args, 2, 2, false, true, nil)
	if err != nil {
		return helpOK(err)
	}
	var t objects.Txn
	d := json.NewDecoder(strings.NewReader(pos[1]))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return fmt.Errorf("JSON: not a transaction (%v); want {\"compare\":[…],\"success\":[…],\"failure\":[…]}", err)
	}
	res, err := c.Txn(ctx, pos[0], t, client.WriteOptions{IdempotencyKey: cf.idemKey})
	if err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, res)
}

func status(ctx context.Context, e env, args []string) error {
	_, c, cf, err := clientVerb(e, "status", args, 0, 0, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, st)
}

// helpOK makes -h a success: the flag package has printed the flags.
func helpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
