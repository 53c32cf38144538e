package cluster

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// The three ways a write or a linearizable read can fail for reasons of the
// cluster rather than of the request. The split between ErrNotApplied and
// ErrOutcomeUnknown is part of correctness: a client must never be told that
// a command failed when it may still commit.
var (
	// ErrNotLeader: this node is not the leader; the command was never
	// appended here. Forward it to the leader, or answer 503.
	ErrNotLeader = errors.New("not the leader")
	// ErrNotApplied: the command was definitely not applied (no leader,
	// enqueue timeout, leadership transfer, shutting down). Safe to retry.
	ErrNotApplied = errors.New("not applied")
	// ErrOutcomeUnknown: the command was appended and may or may not
	// commit (leadership lost after append, timeout while waiting).
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrFaultsDisabled: SetBlocked was called on a node started without
	// fault injection.
	ErrFaultsDisabled = errors.New("fault injection is not enabled")
	// ErrUnspecifiedHost: an address to publish has host 0.0.0.0, :: or
	// none; those mean every interface, and a node dialling one reaches
	// itself. Give the host the other nodes reach this one at.
	ErrUnspecifiedHost = errors.New("host is not one other nodes can dial")
	// ErrUnknownMember: Remove was asked for an id that is not in the
	// Raft configuration; nothing was changed.
	ErrUnknownMember = errors.New("no such member")
)

// ErrBadMember: a join without a member id or a Raft address.
var ErrBadMember = errors.New("invalid member")

// mapRaftError sorts Raft's errors by whether the entry may still commit.
func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotApplied, err)
	default:
		// ErrLeadershipLost, ErrRaftShutdown (an entry in flight at
		// shutdown may be in the log) and anything unforeseen.
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
}
