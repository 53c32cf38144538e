package objects

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// TestIDFromNameGolden pins the derivation: ids name stored objects, so a
// change to it would orphan every named object ever created.
func TestIDFromNameGolden(t *testing.T) {
	ns := NewNamespace("hono-counter", "Counter")
	const want = "33171c9a8c081ef920bd7b20fd43269cdbc4ab217ffe880a9e14d0a1bdf65e2c"
	if got := ns.IDFromName("card-1").String(); got != want {
		t.Fatalf("IDFromName(card-1) = %s, want %s", got, want)
	}
	if got := NewNamespace("hono-counter", "Counter").IDFromName("card-1").String(); got != want {
		t.Fatalf("a second namespace value gave %s, want %s", got, want)
	}
	u, err := ns.NewUniqueID(bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	const wantUnique = "800000000000000000000000000000003809215c7b4027083150d5ed9b4e10a0"
	if u.String() != wantUnique {
		t.Fatalf("unique id from zero bytes = %s, want %s", u, wantUnique)
	}
}

func TestIDsDifferAcrossNamesClassesAndScripts(t *testing.T) {
	ids := map[ID]string{}
	add := func(what string, id ID) {
		t.Helper()
		if prev, ok := ids[id]; ok {
			t.Fatalf("%s and %s have the same id %s", prev, what, id)
		}
		ids[id] = what
	}
	add("a/Counter/x", NewNamespace("a", "Counter").IDFromName("x"))
	add("a/Counter/y", NewNamespace("a", "Counter").IDFromName("y"))
	add("a/Other/x", NewNamespace("a", "Other").IDFromName("x"))
	add("b/Counter/x", NewNamespace("b", "Counter").IDFromName("x"))
	// Without length prefixes these two namespaces would share a key.
	add("ab/c/x", NewNamespace("ab", "c").IDFromName("x"))
	add("a/bc/x", NewNamespace("a", "bc").IDFromName("x"))
	add("a/Counter/empty", NewNamespace("a", "Counter").IDFromName(""))
}

func TestIDStringIsAnObjectName(t *testing.T) {
	id := NewNamespace("s", "C").IDFromName("n")
	s := id.String()
	if len(s) != IDHexDigits || strings.HasPrefix(s, "_") || strings.ToLower(s) != s {
		t.Fatalf("id string %q: want 64 lowercase hex digits", s)
	}
}

func TestUniqueMarker(t *testing.T) {
	ns := NewNamespace("s", "C")
	for i := range 64 {
		named := ns.IDFromName(strings.Repeat("n", i))
		if named.Unique() {
			t.Fatalf("named id %s reports Unique", named)
		}
		u, err := ns.NewUniqueID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !u.Unique() {
			t.Fatalf("unique id %s does not report Unique", u)
		}
		if !ns.Owns(u) || !ns.Owns(named) {
			t.Fatalf("namespace does not own its own ids %s, %s", u, named)
		}
	}
}

func TestNewUniqueIDsDiffer(t *testing.T) {
	ns := NewNamespace("s", "C")
	a, err := ns.NewUniqueID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ns.NewUniqueID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two unique ids are both %s", a)
	}
}

func TestNewUniqueIDReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewNamespace("s", "C").NewUniqueID(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the reader's", err)
	}
	_, err = NewNamespace("s", "C").NewUniqueID(bytes.NewReader(make([]byte, 15)))
	if err == nil {
		t.Fatal("a short read gave an id")
	}
}

func TestIDFromString(t *testing.T) {
	ns := NewNamespace("s", "C")
	named := ns.IDFromName("card-1")
	unique, err := ns.NewUniqueID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tampered := named
	tampered[3] ^= 1
	foreign := NewNamespace("s", "Other").IDFromName("card-1")
	tests := []struct {
		name string
		in   string
		want ID
		err  error
	}{
		{"named", named.String(), named, nil},
		{"unique", unique.String(), unique, nil},
		{"upper case", strings.ToUpper(named.String()), named, nil},
		{"empty", "", ID{}, ErrInvalidID},
		{"short", named.String()[:63], ID{}, ErrInvalidID},
		{"long", named.String() + "0", ID{}, ErrInvalidID},
		{"not hex", "g" + named.String()[1:], ID{}, ErrInvalidID},
		{"a name", "card-1", ID{}, ErrInvalidID},
		{"tampered", tampered.String(), ID{}, ErrForeignID},
		{"another class", foreign.String(), ID{}, ErrForeignID},
		{"zero", ID{}.String(), ID{}, ErrForeignID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ns.IDFromString(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("IDFromString(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("IDFromString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseIDChecksOnlySyntax(t *testing.T) {
	foreign := NewNamespace("x", "Y").IDFromName("z")
	got, err := ParseID(foreign.String())
	if err != nil || got != foreign {
		t.Fatalf("ParseID = %s, %v; want %s", got, err, foreign)
	}
}

// FuzzIDFromString: any string is an id that prints back as itself (in
// lower case) or an ErrInvalidID or ErrForeignID, never a panic.
func FuzzIDFromString(f *testing.F) {
	ns := NewNamespace("s", "C")
	f.Add(ns.IDFromName("card-1").String())
	f.Add(strings.Repeat("0", 64))
	f.Add("card-1")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ns.IDFromString(s)
		switch {
		case err == nil:
			if id.String() != strings.ToLower(s) || !ns.Owns(id) {
				t.Fatalf("IDFromString(%q) = %s", s, id)
			}
		case !errors.Is(err, ErrInvalidID) && !errors.Is(err, ErrForeignID):
			t.Fatalf("IDFromString(%q): unexpected error %v", s, err)
		}
	})
}
