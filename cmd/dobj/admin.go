package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/pki"
)

// members prints the cluster's members as the node at --url sees them.
func members(ctx context.Context, e env, args []string) error {
	_, c, cf, err := clientVerb(e, "members", args, 0, 0, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return problem(cf, err)
	}
	return printJSON(e.stdout, ms)
}

// joinVerb adds a voter: dobj join ID RAFT_ADDR [HTTP_ADDR]. A member
// that joins again with the same id and addresses is left as it is, so
// the same join is its own safe retry: it takes no --idempotency-key.
func joinVerb(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "join", args, 2, 3, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	httpAddr := ""
	if len(pos) == 3 {
		httpAddr = pos[2]
	}
	if err := c.Join(ctx, pos[0], pos[1], httpAddr); err != nil {
		if client.Unknown(err) {
			return fmt.Errorf("%w (the join may or may not have been applied: `dobj members` shows whether %s is a member; the same join again is safe, as a member that joins again with the same id and addresses is left as it is)", problem(cf, err), pos[0])
		}
		return problem(cf, err)
	}
	return printJSON(e.stdout, map[string]bool{"ok": true})
}

// remove takes a member out: dobj remove ID. The same remove again
// finishes one that was applied in part and changes nothing after one
// that was applied in full (a 404: no such member), so it is its own safe
// retry: it takes no --idempotency-key.
func remove(ctx context.Context, e env, args []string) error {
	pos, c, cf, err := clientVerb(e, "remove", args, 1, 1, false, false, nil)
	if err != nil {
		return helpOK(err)
	}
	if err := c.Remove(ctx, pos[0]); err != nil {
		if client.Unknown(err) {
			return fmt.Errorf("%w (the remove may or may not have been applied: `dobj members` shows whether %s is still a member; the same remove again is safe: it finishes a remove applied in part, and answers 404 if %s is already gone)", problem(cf, err), pos[0], pos[0])
		}
		return problem(cf, err)
	}
	return printJSON(e.stdout, map[string]bool{"ok": true})
}

// backupVerb streams GET /_cluster/backup to stdout; the summary goes to
// stderr so that stdout is the backup alone.
func backupVerb(ctx context.Context, e env, args []string) error {
	_, c, cf, err := clientVerb(e, "backup", args, 0, 0, false, false, func(fs *flag.FlagSet) {
		// A backup takes as long as the state is large: --timeout
		// bounds it, default an hour.
		fs.Lookup("timeout").DefValue = "1h0m0s"
		fs.Set("timeout", "1h")
	})
	if err != nil {
		return helpOK(err)
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	start := time.Now()
	cw := &countingWriter{w: e.stdout}
	index, err := c.Backup(ctx, cw)
	if err != nil {
		return problem(cf, err)
	}
	fmt.Fprintf(e.stderr, "backup: %d bytes at applied index %d in %v\n", cw.n, index, time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreVerb seeds a new node's data directory from a backup file.
func restoreVerb(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("restore")
	dataDir := fs.String("data-dir", "", "the new node's data directory (must be empty or absent)")
	id := fs.String("id", "", "the new node's id (as it will serve with --id)")
	raftAddr := fs.String("raft-addr", "127.0.0.1:9081", "the address the new node's Raft is reached at (its --advertise-raft, default --raft-addr)")
	pos, err := parseFlags(e, "restore", fs, args, true)
	if err != nil {
		return helpOK(err)
	}
	if len(pos) != 1 || *dataDir == "" || *id == "" {
		return usageError("restore")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	start := time.Now()
	applied, err := cluster.Restore(*dataDir, *id, *raftAddr, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored applied index %d into %s in %v; start it with: dobj serve --id %s --data-dir %s --raft-addr %s (other nodes join it)\n",
		applied, *dataDir, time.Since(start).Round(time.Millisecond), *id, *dataDir, *raftAddr)
	return nil
}

// certsVerb writes a CA and per-node certificates.
func certsVerb(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("certs")
	dir := fs.String("dir", "", "directory to write ca.crt, ca.key and <id>.crt, <id>.key into (an existing CA there is reused)")
	nodes := fs.String("nodes", "", "node ids, comma-separated")
	hosts := fs.String("hosts", "", "host names and IPs the nodes are reached at, comma-separated (localhost and 127.0.0.1 are always in)")
	pos, err := parseFlags(e, "certs", fs, args, true)
	if err != nil {
		return helpOK(err)
	}
	if len(pos) != 0 || *dir == "" || *nodes == "" {
		return usageError("certs")
	}
	ids, hs := splitList(*nodes, ""), splitList(*hosts, "")
	if err := pki.Generate(*dir, ids, hs); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s/ca.crt, %s/ca.key and a certificate and key for %s\n", *dir, *dir, strings.Join(ids, ", "))
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
