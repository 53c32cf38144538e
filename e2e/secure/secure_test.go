package secure

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

// TestTLSAndTokens: over HTTPS, no token is 401, a read token cannot
// write (403), a write token cannot change membership (403); plain HTTP
// to the TLS port fails; SIGHUP reloads the tokens, and the log never
// shows one.
func TestTLSAndTokens(t *testing.T) {
	n := newSecureNode(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		token  string
		do     func(c *client.Client) error
		status int // 0: success
	}{
		{"no token", "", func(c *client.Client) error { _, err := c.Increment(ctx, "c", 1, client.WriteOptions{}); return err }, 401},
		{"unknown token", "guess", func(c *client.Client) error { _, err := c.Counter(ctx, "c", client.ReadOptions{}); return err }, 401},
		{"write token writes", writeToken, func(c *client.Client) error { _, err := c.Increment(ctx, "c", 1, client.WriteOptions{}); return err }, 0},
		{"read token reads", readToken, func(c *client.Client) error { _, err := c.Counter(ctx, "c", client.ReadOptions{}); return err }, 0},
		{"read token cannot write", readToken, func(c *client.Client) error { _, err := c.Increment(ctx, "c", 1, client.WriteOptions{}); return err }, 403},
		{"write token cannot join", writeToken, func(c *client.Client) error { return c.Join(ctx, "n9", "127.0.0.1:1", "") }, 403},
		{"write token cannot remove", writeToken, func(c *client.Client) error { return c.Remove(ctx, "n9") }, 403},
		{"write token cannot back up", writeToken, func(c *client.Client) error { _, err := c.Backup(ctx, &bytes.Buffer{}); return err }, 403},
		{"admin lists members", adminToken, func(c *client.Client) error { _, err := c.Members(ctx); return err }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(n.client(t, tt.token))
			var ce *client.Error
			switch {
			case tt.status == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.status != 0 && (!errors.As(err, &ce) || ce.Status != tt.status):
				t.Fatalf("err = %v, want status %d", err, tt.status)
			}
		})
	}

	t.Run("plain HTTP to the TLS port fails", func(t *testing.T) {
		resp, err := http.Get("http://" + n.httpAddr + "/_health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatal("plain HTTP answered 200")
			}
		}
		if _, err := client.New("http://"+n.httpAddr, client.WithToken(writeToken)).Counter(ctx, "c", client.ReadOptions{}); err == nil {
			t.Fatal("plain HTTP read succeeded")
		}
	})

	t.Run("probes stay open", func(t *testing.T) {
		for _, p := range []string{"/_health", "/_ready"} {
			resp, err := n.httpClient(t).Get(n.url() + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
		}
	})

	t.Run("CLI takes --token and --ca, and DOBJ_TOKEN", func(t *testing.T) {
		ca := filepath.Join(n.certs, "ca.crt")
		out, err := exec.Command(bin, "incr", "cli", "--url", n.url(), "--ca", ca, "--token", writeToken).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"value": 1`) {
			t.Fatalf("incr: %v %s", err, out)
		}
		cmd := exec.Command(bin, "members", "--url", n.url())
		cmd.Env = append(cmd.Environ(), "DOBJ_TOKEN="+adminToken, "DOBJ_CA="+ca)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), `"id": "n1"`) {
			t.Fatalf("members: %v %s", err, out)
		}
		out, err = exec.Command(bin, "incr", "cli", "--url", n.url(), "--ca", ca, "--token", readToken).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "403") {
			t.Fatalf("incr with a read token: %v %s", err, out)
		}
	})

	t.Run("SIGHUP reloads the tokens", func(t *testing.T) {
		writeFile(t, n.tokens, "write rotated-secret-2\n")
		if err := n.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the new token accepted", func() error {
			_, err := n.client(t, "rotated-secret-2").Increment(ctx, "c", 1, client.WriteOptions{})
			return err
		})
		var ce *client.Error
		if _, err := n.client(t, writeToken).Increment(ctx, "c", 1, client.WriteOptions{}); !errors.As(err, &ce) || ce.Status != 401 {
			t.Fatalf("removed token: err = %v, want 401", err)
		}
	})

	log := n.proc.logText()
	for _, tok := range []string{adminToken, writeToken, readToken, "rotated-secret-2"} {
		if strings.Contains(log, tok) {
			t.Fatalf("the log shows a token")
		}
	}
	if !strings.Contains(log, `"tokens":3`) || !strings.Contains(log, `"tokens":1`) {
		t.Fatalf("the log does not say how many tokens were loaded and reloaded:\n%s", log)
	}
}

// TestExposedAddressRefused: serve on every interface without auth and
// TLS exits at once and says why; --insecure lets it start.
func TestExposedAddressRefused(t *testing.T) {
	dir := t.TempDir()
	raft := freeAddr(t)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	args := []string{"serve", "--id", "n1", "--data-dir", filepath.Join(dir, "d"), "--http-addr", "0.0.0.0:" + port,
		"--raft-addr", raft, "--peers", "n1=" + raft}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "reachable from other hosts") || !strings.Contains(string(out), "--auth-file") ||
		!strings.Contains(string(out), "--tls-cert") || !strings.Contains(string(out), "--insecure") {
		t.Fatalf("serve on 0.0.0.0: err %v, output:\n%s", err, out)
	}
	p := start(t, dir, append(args, "--insecure")...)
	c := client.New("127.0.0.1:" + port)
	eventually(t, 30*time.Second, "the --insecure node ready", func() error {
		ok, err := c.Ready(context.Background())
		if err == nil && !ok {
			err = errors.New("not ready")
		}
		return err
	})
	p.Stop(15 * time.Second)
}

// TestSlowSenderIsCut: a request whose body never comes is ended by the
// server after --http-read-timeout, rather than holding its goroutine
// (and an in-flight slot) forever.
func TestSlowSenderIsCut(t *testing.T) {
	n := newSecureNode(t, "--http-read-timeout", "1s")
	conn, err := tls.Dial("tcp", n.httpAddr, n.tlsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("PUT /o/storage/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writeToken +
		"\r\nContent-Length: 100\r\n\r\n{"))
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server still held the connection of a body that never came after 20s")
	}
}
