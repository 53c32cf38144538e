package cluster

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

// BenchmarkMillionObjects measures what one million small objects cost a
// node: heap per object, the time to take a snapshot, and the time for a
// restarted node to be serving again from that snapshot. It is a
// measurement, not a test: run it alone with
//
//	go test -run '^$' -bench MillionObjects -benchtime 1x ./cluster
//
// The count is fixed so that figures compare from run to run.
func BenchmarkMillionObjects(b *testing.B) {
	const count = 1_000_000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		cfg := testConfig("solo", dir)
		cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
		cfg.SnapshotThreshold = 1 << 40 // only the snapshot taken below
		cfg.SnapshotInterval = time.Hour
		cfg.TrailingLogs = 1024
		n, err := Open(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		waitReady(b, n)

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 256; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= count {
						return
					}
					txn := objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "value", By: 1}}}
					if _, _, err := n.Write(context.Background(), fmt.Sprintf("card-%07d", i), txn, ""); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		load := time.Since(start)

		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		perObject := float64(after.HeapAlloc-before.HeapAlloc) / count

		start = time.Now()
		if err := n.raft.Snapshot().Error(); err != nil {
			b.Fatal(err)
		}
		snapshot := time.Since(start)
		want := digestOf(n)
		n.Close()

		start = time.Now()
		n, err = Open(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		waitReady(b, n)
		restart := time.Since(start)
		if got := digestOf(n); got.Digest != want.Digest || got.Keys != count {
			b.Fatalf("after restart %+v, want %+v", got, want)
		}
		n.Close()

		b.ReportMetric(float64(count)/load.Seconds(), "writes/s")
		b.ReportMetric(perObject, "heap-B/object")
		b.ReportMetric(snapshot.Seconds(), "snapshot-s")
		b.ReportMetric(restart.Seconds(), "restart-s")
	}
}

func waitReady(b *testing.B, n *Node) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !(n.IsLeader() && n.Ready()) {
		if time.Now().After(deadline) {
			b.Fatal("node not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
