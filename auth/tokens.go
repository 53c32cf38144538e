package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
)

// Role is what a token may do; a higher role may do everything a lower
// one may.
type Role int

const (
	// RoleNone: no token, or one the file does not hold.
	RoleNone Role = iota
	// RoleRead: reads and cluster status.
	RoleRead
	// RoleWrite: reads and writes.
	RoleWrite
	// RoleAdmin: everything, including membership, classes and backups.
	RoleAdmin
)

var roleNames = map[string]Role{"read": RoleRead, "write": RoleWrite, "admin": RoleAdmin}

func (r Role) String() string {
	for name, role := range roleNames {
		if role == r {
			return name
		}
	}
	return "none"
}

// ErrFormat: the token file is malformed; the error names the line.
var ErrFormat = errors.New("auth file format")

// entry is one token, kept as its sha256 so that comparing it takes the
// same time whatever its length and wherever it differs.
type entry struct {
	sum  [sha256.Size]byte
	role Role
}

// Tokens is one parsed token file.
type Tokens struct {
	entries []entry
}

// Parse reads a token file: one "ROLE TOKEN" a line, ROLE read, write or
// admin, separated by spaces or tabs; "#" starts a comment that runs to
// the end of the line; blank lines are skipped. A token may appear once.
func Parse(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: line %d: want ROLE TOKEN (%d fields)", ErrFormat, line, len(fields))
		}
		role, ok := roleNames[fields[0]]
		if !ok {
			return nil, fmt.Errorf("%w: line %d: unknown role (want read, write or admin)", ErrFormat, line)
		}
		sum := sha256.Sum256([]byte(fields[1]))
		if prev, dup := seen[sum]; dup {
			return nil, fmt.Errorf("%w: line %d: the token of line %d again", ErrFormat, line, prev)
		}
		seen[sum] = line
		t.entries = append(t.entries, entry{sum: sum, role: role})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read auth file: %w", err)
	}
	return t, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Role is the role of token, RoleNone if the file does not hold it. It
// compares against every token, in constant time each, so the time taken
// tells nothing of which token matched or how much of one.
func (t *Tokens) Role(token string) Role {
	if token == "" {
		return RoleNone
	}
	sum := sha256.Sum256([]byte(token))
	role := RoleNone
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			role = e.role
		}
	}
	return role
}

// Store is the token file of a running node; Reload swaps in a new
// version atomically, so requests in flight use one version or the other.
type Store struct {
	path string
	cur  atomic.Pointer[Tokens]
}

// Open reads the token file at path.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the file again. On error the tokens in use stay.
func (s *Store) Reload() error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("auth file: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return fmt.Errorf("auth file %s: %w", s.path, err)
	}
	s.cur.Store(t)
	return nil
}

// Role is the role of token in the current version of the file.
func (s *Store) Role(token string) Role { return s.cur.Load().Role(token) }

// Len is the number of tokens in the current version of the file.
func (s *Store) Len() int { return s.cur.Load().Len() }
