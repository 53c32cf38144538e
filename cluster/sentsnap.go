package cluster

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/hashicorp/raft"
)

// replaceSentSnapshots takes snapshots of the node's own while its store
// keeps one with databases inline: one its leader sent it (a new or
// lagging member), or one restored from a backup. Raft keeps that as the
// node's latest snapshot until the node takes one, and the file store
// keeps the last two, so until two of the node's own replace it the node
// holds its data twice and each restart reads all of it again. The
// node's own snapshots hold the databases by reference. Raft refuses a
// snapshot with nothing applied since the last, so it waits, a snapshot
// interval at a time, for the applied index to pass the latest one's.
func (n *Node) replaceSentSnapshots(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		latest, inline := n.inlineSnapshot()
		if !inline || n.fsm.LastApplied() <= latest {
			continue
		}
		err := n.raft.Snapshot().Error()
		switch {
		case err == nil:
			n.log.Info("took a snapshot to replace one holding its databases inline", "after_index", latest)
		case !errors.Is(err, raft.ErrNothingNewToSnapshot) && ctx.Err() == nil:
			n.log.Warn("could not take a snapshot to replace one holding its databases inline", "err", err)
		}
	}
}

// inlineSnapshot reports the index of the latest snapshot the store
// keeps, and whether any it keeps holds databases inline. It reads each
// one's header from its file, where Raft's file store keeps it
// (snapshots/<id>/state.bin under the data directory): the store's Open
// reads a whole snapshot to check its CRC first, gigabytes for one with
// databases inline, and the node's store would expand one by reference.
func (n *Node) inlineSnapshot() (uint64, bool) {
	rs, ok := n.deps.Snaps.(*refSnapshotStore)
	if !ok || rs.dir == "" {
		return 0, false
	}
	list, err := rs.SnapshotStore.List()
	if err != nil || len(list) == 0 {
		return 0, false
	}
	inline := false
	for _, meta := range list {
		f, err := os.Open(filepath.Join(rs.dir, "snapshots", meta.ID, "state.bin"))
		if err != nil {
			continue // reaped meanwhile
		}
		in, err := fsm.SnapshotDatabasesInline(bufio.NewReader(f))
		_ = f.Close()
		inline = inline || err == nil && in
	}
	return list[0].Index, inline
}
