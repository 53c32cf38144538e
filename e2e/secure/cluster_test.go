package secure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
	"github.com/dobj/dobj/pki"
)

// TestSecureCluster runs three processes with TLS on the API, mutual TLS
// between the nodes and tokens: the counter works through every node (a
// follower forwards over mutual TLS); no token is 401; a read token
// cannot write (403); a node with a certificate of another CA can neither
// join nor forward; plain HTTP to a TLS port gets no answer.
func TestSecureCluster(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := pki.Generate(certs, []string{"n1", "n2", "n3"}, nil); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "admin "+adminToken+"\nwrite "+writeToken+"\nread "+readToken+"\n")
	sec := &launch.Secure{CertDir: certs, AuthFile: tokens}
	c, err := launch.New(launch.Config{Binary: bin, Dir: dir, BasePort: freeBase(t, 3), Nodes: 3, Secure: sec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(15 * time.Second) })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.WaitReady(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	tc, err := sec.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	as := func(url, token string) *client.Client {
		return client.New(url, client.WithTLSConfig(tc), client.WithToken(token), client.WithTimeout(10*time.Second))
	}

	// The counter through every node: followers forward over mutual TLS.
	for i, n := range c.Nodes {
		v, err := retryIncrement(ctx, as(n.URL(), writeToken), fmt.Sprintf("k-%d", i))
		if err != nil {
			t.Fatalf("increment through %s: %v", n.ID, err)
		}
		if v != int64(i+1) {
			t.Fatalf("increment through %s = %d, want %d", n.ID, v, i+1)
		}
	}
	for _, n := range c.Nodes {
		if v, err := as(n.URL(), readToken).Counter(ctx, "secure", client.ReadOptions{}); err != nil || v != 3 {
			t.Fatalf("linearizable read on %s = %d, %v; want 3", n.ID, v, err)
		}
	}
	_, err = as(c.Nodes[1].URL(), "").Increment(ctx, "secure", 1, client.WriteOptions{})
	wantStatus(t, "no token", err, http.StatusUnauthorized)
	_, err = as(c.Nodes[2].URL(), readToken).Increment(ctx, "secure", 1, client.WriteOptions{})
	wantStatus(t, "a read token writing", err, http.StatusForbidden)

	// Plain HTTP to a TLS port fails.
	if _, err := client.New("http://"+c.Nodes[0].HTTPAddr, client.WithToken(writeToken)).Counter(ctx, "secure", client.ReadOptions{}); err == nil {
		t.Fatal("plain HTTP to the TLS port got an answer")
	}

	// An intruder with certificates of its own CA: its join is refused
	// (the leader cannot reach its Raft port over mutual TLS), so it never
	// becomes a member, and it cannot forward a write.
	other := filepath.Join(dir, "other-certs")
	if err := pki.Generate(other, []string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	xHTTP, xRaft := freeAddr(t), freeAddr(t)
	xcrt, xkey := filepath.Join(other, "x.crt"), filepath.Join(other, "x.key")
	x := launch.NewNode(bin, "x", xHTTP, xRaft, filepath.Join(dir, "x"), filepath.Join(dir, "x.log"), []string{
		"--id", "x", "--data-dir", filepath.Join(dir, "x"), "--http-addr", xHTTP, "--raft-addr", xRaft,
		"--join", c.Nodes[0].URL(), "--tls-ca", filepath.Join(certs, "ca.crt"),
		"--auth-file", tokens, "--tls-cert", xcrt, "--tls-key", xkey,
		"--peer-tls-cert", xcrt, "--peer-tls-key", xkey, "--peer-tls-ca", filepath.Join(other, "ca.crt")})
	xenv := []string{"DOBJ_TOKEN=" + adminToken}
	if err := x.StartEnv(xenv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Stop(15 * time.Second) })
	eventually(t, 30*time.Second, "the intruder's join to be refused", func() error {
		if x.CountLogLines("join failed") == 0 && x.CountLogLines("join refused") == 0 {
			return errors.New("no refused join in its log yet")
		}
		return nil
	})
	st, err := as(c.Nodes[0].URL(), readToken).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 {
		t.Fatalf("members after the intruder's join: %+v", st.Members)
	}
	xtc, err := pki.ClientConfig(filepath.Join(other, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	xc := client.New("https://"+xHTTP, client.WithTLSConfig(xtc), client.WithToken(writeToken), client.WithTimeout(5*time.Second))
	if _, err := xc.Increment(ctx, "secure", 1, client.WriteOptions{}); err == nil {
		t.Fatal("the intruder forwarded a write")
	}
	if v, err := as(c.Nodes[0].URL(), readToken).Counter(ctx, "secure", client.ReadOptions{}); err != nil || v != 3 {
		t.Fatalf("counter after the intruder = %d, %v; want 3", v, err)
	}
}

// retryIncrement increments "secure" with an Idempotency-Key, again while
// the answer says not applied or unknown (an election on a loaded
// machine), as a client would.
func retryIncrement(ctx context.Context, c *client.Client, key string) (int64, error) {
	var err error
	for range 20 {
		var v int64
		v, err = c.Increment(ctx, "secure", 1, client.WriteOptions{IdempotencyKey: key})
		var ce *client.Error
		if err == nil || !errors.As(err, &ce) || (ce.Status != 503 && ce.Status != 504) {
			return v, err
		}
		time.Sleep(250 * time.Millisecond) // a backoff between retries, as a client's
	}
	return 0, err
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != status {
		t.Fatalf("%s: %v, want %d", what, err, status)
	}
	if !strings.Contains(ce.Error(), fmt.Sprint(status)) {
		t.Fatalf("%s: error %q does not name its status", what, ce.Error())
	}
}
