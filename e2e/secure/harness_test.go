// Package secure tests the production-hardening features of dobj as an
// operator runs them: the built binary with TLS, bearer tokens, backups,
// limits and timeouts, on loopback ports 17000-17999 (apart from the
// other multi-process packages, and below the kernel's ephemeral ports). Every process a test starts is stopped
// by its PID when the test ends.
package secure

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
	"github.com/dobj/dobj/pki"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dobj-secure-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bin, err = launch.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	basePort = 17000
	lastPort = 17499
	// Clusters on launch's ports take bases 17500-17990 (Raft at base+1000).
	firstClusterBase = 17500
	lastClusterBase  = 17990
)

var ports = launch.NewPorts(basePort, lastPort+1, firstClusterBase, lastClusterBase+1)

// freeAddr returns a loopback address from this package's range that
// nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := ports.Port()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// freeBase returns a cluster base port whose HTTP and Raft ports for n
// nodes are free.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	b, err := ports.Base(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proc is one dobj serve process, run by the launcher.
type proc struct {
	*launch.Node
}

// start runs `dobj serve` with args (args[0] is "serve") until the test
// ends (then SIGTERM, and SIGKILL if it does not stop).
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("start runs serve, not %q", args)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("serve-%d.log", time.Now().UnixNano()))
	n := launch.NewNode(bin, "n", "", "", "", logPath, args[1:])
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(15 * time.Second) })
	return &proc{Node: n}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// eventually polls cond until it returns nil, failing after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secureNode is one single-node cluster with TLS and tokens.
type secureNode struct {
	dir      string
	certs    string
	tokens   string
	httpAddr string
	raftAddr string
	proc     *proc
}

// Tokens of every secure node.
const (
	adminToken = "admin-secret-1"
	writeToken = "write-secret-1"
	readToken  = "read-secret-1"
)

func newSecureNode(t *testing.T, extra ...string) *secureNode {
	t.Helper()
	n := &secureNode{dir: t.TempDir(), httpAddr: freeAddr(t), raftAddr: freeAddr(t)}
	n.certs = filepath.Join(n.dir, "certs")
	if err := pki.Generate(n.certs, []string{"n1"}, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	n.tokens = filepath.Join(n.dir, "tokens")
	writeFile(t, n.tokens, "# roles\nadmin "+adminToken+"\nwrite "+writeToken+"\nread "+readToken+" # read-only\n")
	n.start(t, filepath.Join(n.dir, "data"), extra...)
	return n
}

func (n *secureNode) start(t *testing.T, dataDir string, extra ...string) {
	t.Helper()
	args := append([]string{"serve", "--id", "n1", "--data-dir", dataDir, "--http-addr", n.httpAddr,
		"--raft-addr", n.raftAddr, "--peers", "n1=" + n.raftAddr, "--auth-file", n.tokens,
		"--tls-cert", filepath.Join(n.certs, "n1.crt"), "--tls-key", filepath.Join(n.certs, "n1.key")}, extra...)
	n.proc = start(t, n.dir, args...)
	c := n.client(t, "")
	eventually(t, 30*time.Second, "node ready", func() error {
		ok, err := c.Ready(context.Background())
		if err == nil && !ok {
			err = fmt.Errorf("not ready")
		}
		return err
	})
}

func (n *secureNode) url() string { return "https://" + n.httpAddr }

func (n *secureNode) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientConfig(filepath.Join(n.certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (n *secureNode) client(t *testing.T, token string) *client.Client {
	t.Helper()
	return client.New(n.url(), client.WithToken(token), client.WithTLSConfig(n.tlsConfig(t)), client.WithTimeout(15*time.Second))
}

func (n *secureNode) httpClient(t *testing.T) *http.Client {
	t.Helper()
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: n.tlsConfig(t)}}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
