package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

// printSecureBanner is the banner of dev --secure: the nodes, and how to
// reach them with the CA and a token.
func printSecureBanner(ctx context.Context, w io.Writer, c *launch.Cluster, sec *launch.Secure) {
	tokens := sec.Tokens
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
The web console: %[1]s/ (trust %[3]s in the browser, then sign in with a
token of the file: read to look, write to count clicks)

Ctrl-C stops all three.
`, c.Nodes[0].URL(), c.Nodes[1].URL(), ca, sec.AuthFile, tokens["write"], selfCommand())
}
