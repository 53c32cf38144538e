package cluster

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dobj/dobj/fsm"
)

// snapshotsSize is the total size of the files under dir's snapshots/.
func snapshotsSize(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.Walk(filepath.Join(dir, "snapshots"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// TestSQLSnapshotFileByReference: a node's snapshots hold its databases
// by reference, so the snapshot store does not grow with them; opened for
// a follower, a snapshot carries them inline, and the copy made for it
// goes when it is closed.
func TestSQLSnapshotFileByReference(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("solo", dir)
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
	c.waitLeader(nil)
	objects := []string{fsm.ClassObject("app:Counter", "a"), fsm.ClassObject("app:Counter", "b")}
	for _, o := range objects {
		proposeSQL(t, n, o, "CREATE TABLE t (v)", "INSERT INTO t VALUES (1)")
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	small := snapshotsSize(t, dir)
	for _, o := range objects {
		for range 4 {
			proposeSQL(t, n, o, "INSERT INTO t VALUES (randomblob(500000))")
		}
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	big := snapshotsSize(t, dir)
	t.Logf("snapshot store: %d bytes with small databases, %d with 4 MB more in them", small, big)
	if big > small+64<<10 {
		t.Fatalf("the snapshot store grew from %d to %d bytes with 4 MB of rows", small, big)
	}

	list, err := n.deps.Snaps.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots %v (%v)", list, err)
	}
	meta, rc, err := n.deps.Snaps.Open(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	read, err := io.Copy(io.Discard, rc)
	if err != nil || read != meta.Size || read < 4_000_000 {
		t.Fatalf("read %d bytes (%v) of an opened snapshot of size %d; want them equal, the databases' 4 MB in them", read, err, meta.Size)
	}
	if copies, _ := filepath.Glob(filepath.Join(dir, expandedPrefix+"*")); len(copies) != 1 {
		t.Fatalf("expanded copies while open: %v", copies)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if copies, _ := filepath.Glob(filepath.Join(dir, expandedPrefix+"*")); len(copies) != 0 {
		t.Fatalf("expanded copies left after Close: %v", copies)
	}
}

// TestSnapshotExpansionHaltsOnClose: a snapshot being expanded for a
// follower stops when the node closes, so shutting down waits for no
// stream, and leaves no copy behind.
func TestSnapshotExpansionHaltsOnClose(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("solo", dir)
	cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, nodes: map[string]*Node{"solo": n}}
	c.waitLeader(nil)
	proposeSQL(t, n, fsm.ClassObject("app:Counter", "a"), "CREATE TABLE t (v)")
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	list, err := n.deps.Snaps.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots %v (%v)", list, err)
	}
	st := n.deps.Snaps.(*refSnapshotStore)
	started := make(chan struct{})
	st.arm(func(r io.Reader, w io.Writer) error {
		close(started)
		for { // a stream without end, until the writer fails
			if _, err := w.Write(make([]byte, 1<<16)); err != nil {
				return err
			}
		}
	})
	done := make(chan error, 1)
	go func() {
		_, _, err := st.Open(list[0].ID)
		done <- err
	}()
	<-started
	closed := make(chan struct{})
	go func() {
		n.Close()
		close(closed)
	}()
	for _, ch := range []<-chan struct{}{closed, errDone(done, t)} {
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			t.Fatal("closing the node waited for an expansion without end")
		}
	}
	if copies, _ := filepath.Glob(filepath.Join(dir, expandedPrefix+"*")); len(copies) != 0 {
		t.Fatalf("expanded copies left: %v", copies)
	}
}

// errDone is closed when done yields errSnapshotHalted (anything else
// fails t).
func errDone(done <-chan error, t *testing.T) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		if err := <-done; !errors.Is(err, errSnapshotHalted) {
			t.Errorf("the halted expansion gave %v", err)
		}
		close(ch)
	}()
	return ch
}
