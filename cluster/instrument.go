package cluster

import (
	"context"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/metrics"
	"github.com/hashicorp/raft"
)

// instrumentedFSM is the FSM as Raft sees it when the node has metrics:
// the Machine, with the time of each applied batch and each snapshot
// recorded. It changes nothing of what the Machine does.
type instrumentedFSM struct {
	*fsm.Machine
	m *metrics.Set
}

var _ raft.BatchingFSM = instrumentedFSM{}

// raftFSM is what Open hands Raft: the Machine itself, or with metrics,
// the Machine wrapped to time it.
func (n *Node) raftFSM() raft.FSM {
	if n.cfg.Metrics == nil {
		return n.fsm
	}
	n.cfg.Metrics.GaugeFunc("fsm_idempotency_keys", "Idempotency-Keys the state machine remembers.",
		func() float64 { return float64(n.fsm.IdempotencyKeys()) })
	n.cfg.Metrics.GaugeFunc("fsm_applied_index", "Index of the last log entry this node's state machine applied.",
		func() float64 { return float64(n.fsm.LastApplied()) })
	return instrumentedFSM{Machine: n.fsm, m: n.cfg.Metrics}
}

func (f instrumentedFSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f instrumentedFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	start := time.Now()
	out := f.Machine.ApplyBatch(logs)
	f.m.Applied(len(logs), time.Since(start))
	return out
}

func (f instrumentedFSM) Snapshot() (raft.FSMSnapshot, error) {
	start := time.Now()
	s, err := f.Machine.Snapshot()
	if err != nil {
		f.m.Snapshot(time.Since(start), err)
		return nil, err
	}
	return &timedSnapshot{FSMSnapshot: s, start: start, m: f.m}, nil
}

// timedSnapshot records a snapshot's time from capture to persisted.
type timedSnapshot struct {
	raft.FSMSnapshot
	start time.Time
	m     *metrics.Set
}

func (s *timedSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.FSMSnapshot.Persist(sink)
	s.m.Snapshot(time.Since(s.start), err)
	return err
}

// countLeaderChanges counts each new leader this node sees, until ctx is
// done. Open starts it when the node has metrics.
func (n *Node) countLeaderChanges(ctx context.Context) {
	if n.cfg.Metrics == nil {
		return
	}
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.raft.DeregisterObserver(obs)
		var last raft.ServerID
		for {
			select {
			case <-ctx.Done():
				return
			case o := <-ch:
				lo := o.Data.(raft.LeaderObservation)
				if lo.LeaderID != "" && lo.LeaderID != last {
					n.cfg.Metrics.LeaderChanged()
				}
				if lo.LeaderID != "" {
					last = lo.LeaderID
				}
			}
		}
	}()
}

// observeEntry records one entry the proposer handed Raft.
func (n *Node) observeEntry(commands int, took time.Duration, err error) {
	n.cfg.Metrics.Entry(commands, took, err)
}
