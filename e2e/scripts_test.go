package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project/projecttest"
)

// Workers scripts (issue 20), deployed by the binary to three `dobj
// serve` processes.

// examples is the hono counter with its npm packages installed, shared by
// this package's tests and removed by TestMain.
var examples projecttest.Installed

// TestDeployHonoCounterThroughAFollower runs `dobj deploy` in the seed's
// application directory against a follower: the project is bundled by the
// CLI, the follower takes it to the leader, and every node lists it with
// its class; a secret set through another follower is listed by name only
// and a redeploy keeps the version moving and the migration applied once.
func TestDeployHonoCounterThroughAFollower(t *testing.T) {
	dir := examples.Dir(t, "../examples/hono-counter", "hono")
	c := newCluster(t, 3)
	c.start()
	leader := c.leader()
	var followers []*node
	for _, nd := range c.nodes {
		if nd != leader {
			followers = append(followers, nd)
		}
	}
	deploy := func() client.ScriptDeployed {
		t.Helper()
		var d client.ScriptDeployed
		eventually(t, 30*time.Second, "dobj deploy through a follower", func() error {
			out, errOut, code := dobjIn(t, dir, followers[0].url(), "deploy")
			if code != 0 {
				return errors.New(errOut)
			}
			return json.Unmarshal([]byte(out), &d)
		})
		return d
	}
	first := deploy()
	if first.Script != "hono-counter" || first.Version == 0 || len(first.Applied) != 1 || first.Applied[0] != "v1" {
		t.Fatalf("first deploy: %+v", first)
	}
	second := deploy()
	if second.Version <= first.Version || len(second.Applied) != 0 {
		t.Fatalf("redeploy: %+v, want a later version and no migration applied again", second)
	}
	for _, nd := range c.nodes {
		out, errOut, code := dobj(t, nd.url(), "scripts")
		if code != 0 {
			t.Fatalf("dobj scripts on %s: %s", nd.id, errOut)
		}
		var list struct{ Scripts []client.Script }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Scripts) != 1 {
			t.Fatalf("%s lists %s", nd.id, out)
		}
		s := list.Scripts[0]
		want := client.ScriptClass{Name: "Counter", SQLite: true, CreatedAs: "Counter", Tag: "v1"}
		if s.Name != "hono-counter" || s.Version != second.Version || len(s.Classes) != 1 || s.Classes[0] != want ||
			s.CompatibilityDate != "2025-04-01" {
			t.Fatalf("%s lists %+v", nd.id, s)
		}
	}
	// A binding to a class the script does not have, through a follower:
	// a 400 naming it, and the script stays at its version.
	bad := client.ScriptMetadata{MainModule: "index.js", CompatibilityDate: "2025-04-01",
		Bindings: []client.ScriptBinding{{Type: client.BindingDurableObject, Name: "FAR", ClassName: "Nope", ScriptName: "hono-counter"}}}
	var ce *client.Error
	_, err := client.New(followers[1].url()).DeployScript(context.Background(), "bad", bad,
		[]client.ScriptModule{{Name: "index.js", Content: []byte("export default {}")}})
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(ce.Detail, "durable_objects binding FAR") {
		t.Fatalf("a bad binding through a follower: %v, want a 400 naming FAR", err)
	}
	// A secret through the other follower: stored, never answered.
	const value = "e2e-secret-value"
	cl := client.New(followers[1].url())
	eventually(t, 15*time.Second, "secret put through a follower", func() error {
		return cl.PutSecret(context.Background(), "hono-counter", "TOKEN", []byte(value))
	})
	for _, path := range []string{"/_scripts", "/_scripts/hono-counter", "/_scripts/hono-counter/secrets"} {
		r := c.do(http.MethodGet, leader.url()+path, nil, nil)
		if r.status != http.StatusOK || strings.Contains(string(r.body), value) {
			t.Fatalf("GET %s: %s", path, r)
		}
	}
	if names, err := cl.SecretNames(context.Background(), "hono-counter"); err != nil || len(names) != 1 || names[0] != "TOKEN" {
		t.Fatalf("secret names %v %v", names, err)
	}
	// Deleted through a follower; the class routes are untouched.
	if err := client.New(followers[0].url()).DeleteScript(context.Background(), "hono-counter"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteScript(context.Background(), "hono-counter"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("second delete: %v, want 404", err)
	}
	c.sameDigest()
}

// dobjIn runs the binary in directory dir with args and DOBJ_URL=url.
func dobjIn(t *testing.T, dir, url string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOBJ_URL="+url)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run dobj %v in %s: %v", args, dir, err)
	}
	return o.String(), e.String(), code
}
