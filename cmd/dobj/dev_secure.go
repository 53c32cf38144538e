package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/dobj/dobj/launch"
)

// printSecureTry ends the banner of dev --secure: how to reach the nodes
// with the CA and a token.
func printSecureTry(w io.Writer, c *launch.Cluster, sec *launch.Secure) {
	tokens := sec.Tokens
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
