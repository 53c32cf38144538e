package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// TestScriptsThroughAFollower deploys, refuses, sets a secret and deletes
// through a follower: each reaches the leader and its outcome comes back,
// a refusal as objects.ErrInvalid naming the binding.
func TestScriptsThroughAFollower(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	var follower *Node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	ctx := context.Background()
	// Retried while the follower does not know the leader yet: a request
	// that failed on the way was not applied.
	retry := func(f func() error) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := f()
			if !errors.Is(err, ErrNotApplied) && !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	put := &fsm.ScriptPut{Name: "app", MainModule: "index.js",
		Modules:        []fsm.Module{{Name: "index.js", Type: "esm", Content: []byte("export class Counter {}; export default {}")}},
		DurableObjects: []fsm.DOBinding{{Name: "COUNTER", Class: "Counter"}},
		Migrations:     []fsm.Migration{{Tag: "v1", NewSQLiteClasses: []string{"Counter"}}}}
	var d ScriptDeploy
	err := retry(func() (err error) { d, err = follower.DeployScript(ctx, put); return err })
	if err != nil || d.Version == 0 || len(d.Applied) != 1 || d.Classes[0].Name != "Counter" {
		t.Fatalf("deploy via a follower = %+v %v", d, err)
	}
	c.eventually(5*time.Second, "the script on the follower", func() bool {
		s, ok := follower.Script("app")
		return ok && s.Version == d.Version
	})
	bad := *put
	bad.Name = "other"
	bad.DurableObjects = []fsm.DOBinding{{Name: "FAR", Class: "Nope", Script: "app"}}
	err = retry(func() error { _, err := follower.DeployScript(ctx, &bad); return err })
	if !errors.Is(err, objects.ErrInvalid) || !strings.Contains(err.Error(), "durable_objects binding FAR") {
		t.Fatalf("deploy of a bad binding via a follower: %v, want objects.ErrInvalid naming FAR", err)
	}
	for _, tt := range []struct {
		script string
		found  bool
	}{{"app", true}, {"ghost", false}} {
		var found bool
		err := retry(func() (err error) { found, err = follower.PutSecret(ctx, tt.script, "TOKEN", "v"); return err })
		if err != nil || found != tt.found {
			t.Fatalf("secret of %s via a follower = %v %v, want found %v", tt.script, found, err, tt.found)
		}
	}
	for _, want := range []bool{true, false} {
		var found bool
		err := retry(func() (err error) { found, err = follower.DeleteScript(ctx, "app"); return err })
		if err != nil || found != want {
			t.Fatalf("delete via a follower = %v %v, want found %v", found, err, want)
		}
	}
}
