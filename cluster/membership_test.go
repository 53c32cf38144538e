package cluster

import (
	"context"
	"errors"
	"testing"
)

// TestRemoveUnknownMemberChangesNothing: Raft's RemoveServer would commit
// a new configuration for any id; Remove refuses one that is not a member.
func TestRemoveUnknownMemberChangesNothing(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	before := leader.raft.GetConfiguration()
	if err := before.Error(); err != nil {
		t.Fatal(err)
	}
	index := before.Index()
	if err := leader.Remove(context.Background(), "n9"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Remove(n9) = %v, want ErrUnknownMember", err)
	}
	after := leader.raft.GetConfiguration()
	if err := after.Error(); err != nil {
		t.Fatal(err)
	}
	if after.Index() != index || len(after.Configuration().Servers) != 3 {
		t.Fatalf("configuration changed: index %d -> %d, %d servers", index, after.Index(), len(after.Configuration().Servers))
	}
	// A member is still removed.
	var other string
	for id, n := range c.nodes {
		if n != leader {
			other = id
		}
	}
	if err := leader.Remove(context.Background(), other); err != nil {
		t.Fatalf("Remove(%s) = %v", other, err)
	}
	if err := leader.checkMember(other); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("%s still a member after Remove: %v", other, err)
	}
}
