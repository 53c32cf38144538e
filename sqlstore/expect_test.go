package sqlstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestExpectChecksAtFirstOpen: a restarted store told what positions its
// databases held opens none of them to record it; a database behind its
// recorded position then fails every use, reads included, with
// ErrBehind naming it, until a streamed database replaces it; one at or
// past its position, and a missing one, are told apart at once.
func TestExpectChecksAtFirstOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir})
	for _, o := range []string{"behind", "ok"} {
		if err := s.Apply(o, 1, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE c (v)"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(o, 2, Env{}, []Statement{{Op: OpSQL, SQL: "INSERT INTO c VALUES (1)"}}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := s.Freeze("ok")
	if err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := f.WriteTo(&good); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, Config{Dir: dir})
	if err := s.Expect("missing", 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing database: %v, want an error naming it", err)
	}
	if err := s.Expect("behind", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("ok", 2); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenHandles(); n != 0 {
		t.Fatalf("Expect opened %d databases, want none", n)
	}
	for i := range 2 { // and again: a failed open is not forgotten
		if _, err := s.Applied("behind"); !errors.Is(err, ErrBehind) || !strings.Contains(err.Error(), `behind at position 3`) {
			t.Fatalf("use %d of a database behind: %v, want ErrBehind naming it", i, err)
		}
	}
	if err := s.Apply("behind", 3, Env{}, []Statement{{Op: OpSQL, SQL: "INSERT INTO c VALUES (2)"}}); !errors.Is(err, ErrBehind) {
		t.Fatalf("an apply onto a database behind: %v, want ErrBehind", err)
	}
	if _, err := s.BeginRead("behind", Env{}); !errors.Is(err, ErrBehind) {
		t.Fatalf("a read of a database behind: %v, want ErrBehind", err)
	}
	if idx, err := s.Applied("ok"); err != nil || idx != 2 {
		t.Fatalf("the database at its position: %d, %v", idx, err)
	}
	// Open now: Expect checks it at once.
	if err := s.Expect("ok", 5); !errors.Is(err, ErrBehind) {
		t.Fatalf("an open database behind: %v, want ErrBehind", err)
	}
	if err := s.Install("behind", bytes.NewReader(good.Bytes())); err != nil {
		t.Fatal(err)
	}
	if idx, err := s.Applied("behind"); err != nil || idx != 2 {
		t.Fatalf("after Install: %d, %v; want the installed position 2", idx, err)
	}
}
