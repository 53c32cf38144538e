package cluster

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
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
	// Nothing appended to the log (the configuration's own Index() is
	// always 0 in this Raft), and the same servers.
	last := leader.raft.LastIndex()
	if err := leader.Remove(context.Background(), "n9"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Remove(n9) = %v, want ErrUnknownMember", err)
	}
	after := leader.raft.GetConfiguration()
	if err := after.Error(); err != nil {
		t.Fatal(err)
	}
	if got := leader.raft.LastIndex(); got != last || !reflect.DeepEqual(after.Configuration().Servers, before.Configuration().Servers) {
		t.Fatalf("configuration changed: last index %d -> %d, servers %v -> %v", last, got, before.Configuration().Servers, after.Configuration().Servers)
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

// TestRemoveAgainFinishesAPartialRemove: a remove that took the member
// out of the configuration but left its HTTP address published (its
// answer, or the proposal forgetting the address, was lost) is finished
// by the same remove sent again; a remove after that changes nothing and
// says there is no such member.
func TestRemoveAgainFinishesAPartialRemove(t *testing.T) {
	c := newTestCluster(t)
	c.waitLeader(nil)
	c.deps["n4"] = c.net.Deps()
	c.start(testConfig("n4", ""), c.deps["n4"])
	c.join(nil, "n4", "127.0.0.1:8084")
	leader := c.waitLeader(map[string]bool{"n4": true})
	// Remove's first step alone.
	if err := leader.raft.RemoveServer("n4", 0, 0).Error(); err != nil {
		t.Fatal(err)
	}
	if err := leader.checkMember("n4"); !errors.Is(err, ErrUnknownMember) || leader.fsm.Members()["n4"] != "127.0.0.1:8084" {
		t.Fatalf("after RemoveServer: member check %v, HTTP address %q; want a partial remove", err, leader.fsm.Members()["n4"])
	}
	if err := leader.Remove(context.Background(), "n4"); err != nil {
		t.Fatalf("the same remove again: %v, want it finished", err)
	}
	if addr, ok := leader.fsm.Members()["n4"]; ok {
		t.Fatalf("n4's HTTP address %q still published after the remove", addr)
	}
	if err := leader.Remove(context.Background(), "n4"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("a remove after the member is gone: %v, want ErrUnknownMember", err)
	}
}

// TestForwardedMembershipLostAnswer: a remove, a join or a script
// command a follower sent the leader whose answer is lost may have been
// applied, so it is outcome unknown (a repeated remove would then say there is no such
// member); one that never left the follower is not applied.
func TestForwardedMembershipLostAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the leader went down before it answered
		}
	}))
	defer srv.Close()
	f := &forwarder{client: &peerClient{hc: &http.Client{}}}
	ctx := context.Background()
	err := f.remove(ctx, raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://")), "n4")
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotApplied) {
		t.Fatalf("remove whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	if err := f.remove(ctx, closedAddr(t), "n4"); !errors.Is(err, ErrNotApplied) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("remove to a leader that cannot be dialled: %v, want ErrNotApplied", err)
	}
	// A join likewise: it may commit though its answer was lost.
	join := joinRequest{ID: "n4", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2"}
	err = f.join(ctx, raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://")), join)
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotApplied) {
		t.Fatalf("join whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	if err := f.join(ctx, closedAddr(t), join); !errors.Is(err, ErrNotApplied) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("join to a leader that cannot be dialled: %v, want ErrNotApplied", err)
	}
	// Script and class commands go the same way (scriptCommand,
	// forwardClass).
	var r scriptReply
	err = sentError("script", f.client.post(ctx, raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://")), pathScript, &scriptRequest{}, &r))
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotApplied) {
		t.Fatalf("script command whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
}

// TestRepeatedJoinWaitsForACommittedConfiguration: a join of a member
// already in the leader's latest configuration answers only once an
// entry after that configuration commits: a leader that cannot commit
// one (its followers are gone) never says the member joined — the
// outcome is unknown, or, once it has stepped down, it is not leader.
func TestRepeatedJoinWaitsForACommittedConfiguration(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	var member *Node
	for id, n := range c.nodes {
		if n == leader {
			continue
		}
		member = n
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		delete(c.nodes, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := leader.Join(ctx, member.cfg.ID, member.RaftAddr(), "")
	if err == nil || !errors.Is(err, ErrOutcomeUnknown) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("repeated join on a leader that cannot commit: %v; want outcome unknown", err)
	}
}
