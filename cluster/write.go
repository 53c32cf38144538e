package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// Write proposes txn on object and waits until it is committed and
// applied. Domain failures come back as objects errors (ErrConflict,
// ErrInvalid) with nothing changed; the cluster's as ErrNotLeader,
// ErrNotApplied or ErrOutcomeUnknown. The index is the log entry's.
//
// On a follower the write goes to the leader on the forwarding stream
// (see stream_leader.go); ErrNotLeader only when no leader is known.
func (n *Node) Write(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.writeLocal(ctx, object, txn, idemKey)
	}
	if err := n.checkWrite(object, txn); err != nil {
		return objects.TxnResult{}, 0, err
	}
	id, addr := n.LeaderPeer()
	if addr == "" {
		return objects.TxnResult{}, 0, ErrNotLeader
	}
	return n.fwd.write(ctx, id, addr, forwardedWrite{Object: object, Txn: wireTxnOf(txn), IdemKey: idemKey})
}

// writeLocal is Write on the leader.
func (n *Node) writeLocal(ctx context.Context, object string, txn objects.Txn, idemKey string) (objects.TxnResult, uint64, error) {
	cmd, err := n.txnCommand(object, txn, idemKey)
	if err != nil {
		return objects.TxnResult{}, 0, err
	}
	if n.cfg.bug(BugAckBeforeCommit) {
		return n.ackBeforeCommit(cmd)
	}
	resp, _, err := n.propose(ctx, cmd)
	return txnOutcome(proposed{resp: resp, err: err})
}

// txnCommand is the command of a write on the leader, stamped with its
// clock: ErrNotLeader on another node, ErrInvalid or ErrTooLarge for a
// txn the API would refuse (checkWrite).
func (n *Node) txnCommand(object string, txn objects.Txn, idemKey string) (*fsm.Command, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if err := n.checkWrite(object, txn); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	return &fsm.Command{
		Kind:        fsm.KindTxn,
		Object:      object,
		Txn:         txn,
		IdemKey:     idemKey,
		Time:        now,
		IdemExpires: now + int64(n.cfg.IdempotencyWindow),
	}, nil
}

// txnOutcome unpacks a write's proposal outcome.
func txnOutcome(r proposed) (objects.TxnResult, uint64, error) {
	if r.err != nil {
		return objects.TxnResult{}, 0, r.err
	}
	resp := r.resp.(*fsm.Response)
	return resp.Result, resp.Index, resp.Err
}

// propose hands cmd to the proposer and waits for the FSM's response,
// mapping Raft's errors to ErrNotLeader, ErrNotApplied and
// ErrOutcomeUnknown. Giving up (ctx done, ApplyTimeout) before the command
// went into an entry is ErrNotApplied; after, ErrOutcomeUnknown: it may
// still commit.
func (n *Node) propose(ctx context.Context, cmd *fsm.Command) (interface{}, uint64, error) {
	if cmd.Time == 0 {
		cmd.Time = time.Now().UnixNano()
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("encode command: %w", err)
	}
	done := make(chan proposed, 1)
	p := &proposal{data: data, deliver: func(r proposed) { done <- r }}
	if err := n.prop.submit(p); err != nil {
		return nil, 0, err
	}
	timer := time.NewTimer(n.cfg.ApplyTimeout)
	defer timer.Stop()
	var cause error
	select {
	case r := <-done:
		return r.resp, r.index, r.err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = fmt.Errorf("not applied within %s", n.cfg.ApplyTimeout)
	}
	if n.prop.withdraw(p) {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotApplied, cause)
	}
	return nil, 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)
}

// checkWrite checks a write as the API checks a client's (Config.Limits),
// and keeps the names the API reserves (a leading '_': class objects'
// storage) out of reach of a plain write, whoever sent it.
func (n *Node) checkWrite(object string, txn objects.Txn) error {
	if strings.HasPrefix(object, "_") {
		return fmt.Errorf("%w: object names starting with '_' are reserved", objects.ErrInvalid)
	}
	return n.cfg.Limits.Validate(object, txn)
}
