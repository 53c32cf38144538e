package secure

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

// TestMembershipVerbs: dobj join adds a waiting node as a voter, dobj
// members lists it, dobj remove takes it out.
func TestMembershipVerbs(t *testing.T) {
	dir := t.TempDir()
	h1, r1, h2, r2 := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, dir, "serve", "--id", "n1", "--data-dir", filepath.Join(dir, "n1"), "--http-addr", h1, "--raft-addr", r1, "--peers", "n1="+r1)
	// n2 has neither --peers nor --join: it waits to be joined.
	start(t, dir, "serve", "--id", "n2", "--data-dir", filepath.Join(dir, "n2"), "--http-addr", h2, "--raft-addr", r2)
	url := "http://" + h1
	eventually(t, 30*time.Second, "n1 ready", func() error {
		ok, err := client.New(url).Ready(t.Context())
		if err == nil && !ok {
			err = errors.New("not ready")
		}
		return err
	})
	members := func() []client.Member {
		t.Helper()
		out, err := exec.Command(bin, "members", "--url", url).Output()
		if err != nil {
			t.Fatalf("dobj members: %v", err)
		}
		var ms []client.Member
		if err := json.Unmarshal(out, &ms); err != nil {
			t.Fatalf("dobj members printed %q: %v", out, err)
		}
		return ms
	}
	if out, err := exec.Command(bin, "join", "n2", r2, h2, "--url", url).CombinedOutput(); err != nil {
		t.Fatalf("dobj join: %v %s", err, out)
	}
	if ms := members(); len(ms) != 2 || ms[1].ID != "n2" || ms[1].RaftAddr != r2 || ms[1].Suffrage != "voter" {
		t.Fatalf("members after join: %+v", ms)
	}
	if out, err := exec.Command(bin, "remove", "n2", "--url", url).CombinedOutput(); err != nil {
		t.Fatalf("dobj remove: %v %s", err, out)
	}
	if ms := members(); len(ms) != 1 || ms[0].ID != "n1" {
		t.Fatalf("members after remove: %+v", ms)
	}
}
