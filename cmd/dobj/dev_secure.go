package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
	"github.com/dobj/dobj/pki"
)

// devRoles are the tokens dev --secure makes, one a role.
var devRoles = []string{"admin", "write", "read"}

// devSecurity makes, on the first secure run in dir, a CA and a
// certificate per node (dir/certs, as dobj certs writes them) and a token
// file with a random token a role (dir/tokens); later runs reuse both.
func devSecurity(dir string) (*launch.Secure, error) {
	certs := filepath.Join(dir, "certs")
	var ids []string
	for i := 1; i <= devNodes; i++ {
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	if _, err := os.Stat(filepath.Join(certs, "n1.crt")); errors.Is(err, fs.ErrNotExist) {
		if err := pki.Generate(certs, ids, nil); err != nil {
			return nil, err
		}
	}
	tokens := filepath.Join(dir, "tokens")
	if _, err := os.Stat(tokens); errors.Is(err, fs.ErrNotExist) {
		var b strings.Builder
		b.WriteString("# made by dobj dev --secure: ROLE TOKEN a line\n")
		for _, role := range devRoles {
			var r [24]byte
			if _, err := rand.Read(r[:]); err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "%s %s\n", role, hex.EncodeToString(r[:]))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(tokens, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
	}
	byRole, err := readTokens(tokens)
	if err != nil {
		return nil, err
	}
	return &launch.Secure{CertDir: certs, AuthFile: tokens, Token: byRole["admin"]}, nil
}

// readTokens returns the first token of each role in a token file.
func readTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) == 2 && out[fields[0]] == "" {
			out[fields[0]] = fields[1]
		}
	}
	return out, sc.Err()
}

// printSecureBanner is the banner of dev --secure: the nodes, and how to
// reach them with the CA and a token.
func printSecureBanner(ctx context.Context, w io.Writer, c *launch.Cluster, sec *launch.Secure) {
	tokens, _ := readTokens(sec.AuthFile)
	tc, _ := sec.ClientTLS()
	leader := leaderOf(ctx, c.URLs(), []client.Option{client.WithToken(tokens["read"]), client.WithTLSConfig(tc)})
	for _, n := range c.Nodes {
		role := ""
		if n.ID == leader {
			role = "  (leader)"
		}
		fmt.Fprintf(w, "  %s  %s  pid %d  log %s%s\n", n.ID, n.URL(), n.PID(), n.LogPath, role)
	}
	ca := filepath.Join(sec.CertDir, "ca.crt")
	fmt.Fprintf(w, `
TLS everywhere (the API over HTTPS, mutual TLS between nodes) and tokens
(in %[4]s; admin, write and read):
  curl --cacert %[3]s -H 'Authorization: Bearer %[5]s' -X POST %[1]s/card-1/increment
  curl --cacert %[3]s %[2]s/card-1      # 401: no token
or with the command line:
  export DOBJ_URL=%[2]s DOBJ_CA=%[3]s DOBJ_TOKEN=%[5]s
  %[6]s incr card-1

Ctrl-C stops all three.
`, c.Nodes[0].URL(), c.Nodes[1].URL(), ca, sec.AuthFile, tokens["write"], selfCommand())
}
