package secure

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

// roundTripObjects is how many objects the backup round trip writes:
// DOBJ_ROUNDTRIP_OBJECTS, default small enough for CI (the README reports
// a run with 100,000).
func roundTripObjects(t *testing.T) int {
	if v := os.Getenv("DOBJ_ROUNDTRIP_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("DOBJ_ROUNDTRIP_OBJECTS: %v", err)
		}
		return n
	}
	return 2000
}

// writeObjects increments counters obj-<from>..obj-<to-1> with 32 writers
// and returns how many were acknowledged.
func writeObjects(t *testing.T, c *client.Client, prefix string, from, to int, stop *atomic.Bool) int64 {
	t.Helper()
	var next, acked atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(to) || (stop != nil && stop.Load()) {
					return
				}
				if _, err := c.Increment(context.Background(), fmt.Sprintf("%s-%d", prefix, i), 1, client.WriteOptions{}); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	return acked.Load()
}

// backupFile runs dobj backup against n into a file and returns its path.
func backupFile(t *testing.T, n *secureNode, name string) string {
	t.Helper()
	path := filepath.Join(n.dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "backup", "--url", n.url(), "--ca", filepath.Join(n.certs, "ca.crt"), "--token", adminToken)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("dobj backup: %v: %s", err, stderr.String())
	}
	st, _ := f.Stat()
	t.Logf("backup %s: %d bytes in %v (%s)", name, st.Size(), time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	return path
}

// restoreInto runs dobj restore of file into dataDir for node n1 at raftAddr.
func restoreInto(t *testing.T, file, dataDir, raftAddr string) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(bin, "restore", file, "--data-dir", dataDir, "--id", "n1", "--raft-addr", raftAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("dobj restore: %v: %s", err, out)
	}
	t.Logf("restore into %s: %v", filepath.Base(dataDir), time.Since(start).Round(time.Millisecond))
}

// TestBackupRestoreRoundTrip: a backup taken while writes go on holds
// every write acknowledged before it started; a backup restored into a
// new data directory serves a state with the same /_cluster/digest.
func TestBackupRestoreRoundTrip(t *testing.T) {
	objects := roundTripObjects(t)
	n := newSecureNode(t)
	c := n.client(t, writeToken)
	ctx := context.Background()

	start := time.Now()
	before := writeObjects(t, c, "obj", 0, objects, nil)
	t.Logf("wrote %d objects in %v", before, time.Since(start).Round(time.Millisecond))

	// Backup while writes go on.
	var stop atomic.Bool
	during := make(chan int64, 1)
	go func() { during <- writeObjects(t, c, "more", 0, 1<<30, &stop) }()
	live := backupFile(t, n, "live.snap")
	stop.Store(true)
	moreAcked := <-during

	// The exact round trip: no writes now.
	final := backupFile(t, n, "final.snap")
	want, err := n.client(t, readToken).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Keys != int(before+moreAcked) {
		t.Fatalf("source holds %d keys, want %d", want.Keys, before+moreAcked)
	}
	n.proc.Stop(15 * time.Second)

	// The live backup restores on other ports and holds at least what
	// was acknowledged before it.
	other := &secureNode{dir: n.dir, certs: n.certs, tokens: n.tokens, httpAddr: freeAddr(t), raftAddr: freeAddr(t)}
	restoreInto(t, live, filepath.Join(n.dir, "live"), other.raftAddr)
	other.start(t, filepath.Join(n.dir, "live"))
	d, err := other.client(t, readToken).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Keys < int(before) || d.Keys > int(before+moreAcked)+32 {
		t.Fatalf("live backup holds %d keys; %d were acknowledged before it, %d more during", d.Keys, before, moreAcked)
	}
	other.proc.Stop(15 * time.Second)

	// The final backup, restored at the source's addresses (members are
	// part of the digest), has its digest.
	restoreInto(t, final, filepath.Join(n.dir, "restored"), n.raftAddr)
	start = time.Now()
	n.start(t, filepath.Join(n.dir, "restored"))
	t.Logf("restored node ready in %v", time.Since(start).Round(time.Millisecond))
	got, err := n.client(t, readToken).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want.Digest || got.Keys != want.Keys {
		t.Fatalf("restored digest %+v, want %+v", got, want)
	}
	// And it takes writes.
	if v, err := c.Increment(ctx, "obj-0", 1, client.WriteOptions{}); err != nil || v != 2 {
		t.Fatalf("write after restore: %d, %v", v, err)
	}

	// Restore refuses a data directory in use.
	out, err := exec.Command(bin, "restore", final, "--data-dir", filepath.Join(n.dir, "restored"), "--id", "n1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("restore over a data directory in use: %v %s", err, out)
	}
}
