package launch

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dobj/dobj/pki"
)

// Roles are the tokens MakeSecure writes, one a role.
var Roles = []string{"admin", "write", "read"}

// MakeSecure makes, on its first call for dir, a CA and a certificate per
// node n1..nN in dir/certs (as `dobj certs` writes them) and a token file
// with a random token a role in dir/tokens; later calls reuse both. The
// Secure it returns carries the tokens by role.
func MakeSecure(dir string, nodes int) (*Secure, error) {
	certs := filepath.Join(dir, "certs")
	var ids []string
	for i := 1; i <= nodes; i++ {
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	if _, err := os.Stat(filepath.Join(certs, ids[len(ids)-1]+".crt")); errors.Is(err, fs.ErrNotExist) {
		if err := pki.Generate(certs, ids, nil); err != nil {
			return nil, err
		}
	}
	tokens := filepath.Join(dir, "tokens")
	if _, err := os.Stat(tokens); errors.Is(err, fs.ErrNotExist) {
		var b strings.Builder
		b.WriteString("# ROLE TOKEN a line\n")
		for _, role := range Roles {
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
	return &Secure{CertDir: certs, AuthFile: tokens, Token: byRole["admin"], Tokens: byRole}, nil
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
