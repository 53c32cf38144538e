package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	file := "# dobj tokens\n\nread  r-token\nwrite\tw-token # the app\n  admin a-token\n"
	toks, err := Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 3 {
		t.Fatalf("len = %d, want 3", toks.Len())
	}
	for _, tt := range []struct {
		token string
		want  Role
	}{{"r-token", RoleRead}, {"w-token", RoleWrite}, {"a-token", RoleAdmin}, {"", RoleNone}, {"x-token", RoleNone}, {"a-toke", RoleNone}, {"# dobj", RoleNone}} {
		if got := toks.Role(tt.token); got != tt.want {
			t.Errorf("Role(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}

func TestParseRefusesMalformedFilesWithoutShowingTokens(t *testing.T) {
	for _, tt := range []struct{ name, file string }{
		{"one field", "secret-one\n"},
		{"three fields", "read secret-one extra\n"},
		{"unknown role", "root secret-one\n"},
		{"role case matters", "READ secret-one\n"},
		{"repeated token", "read secret-one\nadmin secret-one\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.file))
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

func TestStoreReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("read one\n")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	write("admin two\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Role("one") != RoleNone || s.Role("two") != RoleAdmin {
		t.Fatalf("after reload: one=%v two=%v", s.Role("one"), s.Role("two"))
	}
	write("bogus\n")
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	if s.Role("two") != RoleAdmin {
		t.Fatal("a failed reload dropped the tokens in use")
	}
}
