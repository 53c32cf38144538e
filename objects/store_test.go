package objects

import (
	"encoding/json"
	"testing"
	"unsafe"
)

func TestGetLoadLenAscend(t *testing.T) {
	s := NewStore()
	if _, ok := s.Get("a", "k"); ok {
		t.Fatal("Get on empty store found a key")
	}
	// Loaded out of order, across neighbouring object names.
	loads := [][3]string{
		{"b", "k", `1`}, {"a", "k2", `"x"`}, {"a\x00b", "k", `true`}, {"a", "k1", `{"z":1}`}, {"ab", "a", `null`},
	}
	buf := []byte(`2`)
	for _, l := range loads {
		s.Load(l[0], l[1], json.RawMessage(l[2]))
	}
	s.Load("b", "k", buf) // replaces
	buf[0] = '9'          // Load copied the value
	if got, want := s.Len(), 5; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	want := []string{"a/k1={\"z\":1}", "a/k2=\"x\"", "a\x00b/k=true", "ab/a=null", "b/k=2"}
	if got := dump(s); !equalStrings(got, want) {
		t.Fatalf("Ascend = %q, want %q", got, want)
	}
	tests := []struct {
		object, key string
		want        string
		found       bool
	}{
		{"a", "k1", `{"z":1}`, true},
		{"a", "k", "", false},
		{"a\x00b", "k", `true`, true},
		{"a", "b", "", false},
		{"ab", "a", `null`, true},
		{"b", "k", `2`, true},
		{"c", "k", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.object+"/"+tt.key, func(t *testing.T) {
			v, ok := s.Get(tt.object, tt.key)
			if ok != tt.found || string(v) != tt.want {
				t.Fatalf("Get = %s, %v; want %s, %v", v, ok, tt.want, tt.found)
			}
		})
	}
	var n int
	s.Ascend(func(string, string, json.RawMessage) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Ascend did not stop when fn returned false: %d calls", n)
	}
}

func TestCloneIsolation(t *testing.T) {
	s := newStoreWith(t, map[string][]string{"a": {"k1", `1`, "k2", `2`}, "b": {"k", `3`}})
	before := dump(s)
	c := s.Clone()

	// Changes to the original do not show in the clone.
	mustApply(t, s, "a", Txn{Success: []Op{
		{Op: OpPut, Key: "k1", Value: json.RawMessage(`10`)},
		{Op: OpDelete, Key: "k2"},
		{Op: OpPut, Key: "k3", Value: json.RawMessage(`30`)},
	}})
	mustApply(t, s, "b", Txn{Success: []Op{{Op: OpDeleteAll}}})
	if got := dump(c); !equalStrings(got, before) {
		t.Fatalf("clone changed with the original: %q, want %q", got, before)
	}
	if c.Len() != 3 {
		t.Fatalf("clone Len = %d, want 3", c.Len())
	}
	afterS := []string{"a/k1=10", "a/k3=30"}
	if got := dump(s); !equalStrings(got, afterS) {
		t.Fatalf("original = %q, want %q", got, afterS)
	}

	// Changes to the clone do not show in the original.
	mustApply(t, c, "a", puts("k1", `100`, "k9", `9`))
	mustApply(t, c, "z", puts("k", `1`))
	if got := dump(s); !equalStrings(got, afterS) {
		t.Fatalf("original changed with the clone: %q, want %q", got, afterS)
	}
	wantC := []string{"a/k1=100", "a/k2=2", "a/k9=9", "b/k=3", "z/k=1"}
	if got := dump(c); !equalStrings(got, wantC) {
		t.Fatalf("clone = %q, want %q", got, wantC)
	}
	// A clone of a clone is isolated too.
	cc := c.Clone()
	mustApply(t, cc, "a", Txn{Success: []Op{{Op: OpDeleteAll}}})
	if got := dump(c); !equalStrings(got, wantC) {
		t.Fatalf("clone changed with its clone: %q, want %q", got, wantC)
	}
}

func TestCloneLarge(t *testing.T) {
	// Enough keys for a multi-level tree, so copy-on-write of inner nodes is exercised.
	s := NewStore()
	for i := range 5000 {
		s.Load("o", keyN(i), json.RawMessage(`1`))
	}
	c := s.Clone()
	d := c.Digest()
	for i := 0; i < 5000; i += 3 {
		mustApply(t, s, "o", Txn{Success: []Op{{Op: OpIncrement, Key: keyN(i), By: 1}}})
	}
	for i := 1; i < 5000; i += 7 {
		mustApply(t, s, "o", Txn{Success: []Op{{Op: OpDelete, Key: keyN(i)}}})
	}
	if c.Digest() != d || c.Len() != 5000 {
		t.Fatal("clone changed when the original was written")
	}
	if v, _ := c.Get("o", keyN(0)); string(v) != `1` {
		t.Fatalf("clone o/%s = %s, want 1", keyN(0), v)
	}
	if v, _ := s.Get("o", keyN(0)); string(v) != `2` {
		t.Fatalf("original o/%s = %s, want 2", keyN(0), v)
	}
}

func TestDigest(t *testing.T) {
	base := func() *Store {
		return newStoreWith(t, map[string][]string{"a": {"k1", `1`, "k2", `"v"`}, "b": {"k", `[1,2]`}})
	}
	d0 := base().Digest()
	if NewStore().Digest() == d0 {
		t.Fatal("empty store has the same digest as a full one")
	}

	t.Run("same content, other insertion order", func(t *testing.T) {
		s := NewStore()
		s.Load("b", "k", json.RawMessage(`[1,2]`))
		s.Load("a", "k2", json.RawMessage(`"v"`))
		s.Load("a", "k1", json.RawMessage(`0`))
		mustApply(t, s, "a", Txn{Success: []Op{{Op: OpIncrement, Key: "k1", By: 1}}})
		mustApply(t, s, "a", puts("tmp", `1`))
		mustApply(t, s, "a", Txn{Success: []Op{{Op: OpDelete, Key: "tmp"}}})
		if s.Digest() != d0 {
			t.Fatalf("digest differs for equal content: %q vs %q", dump(s), dump(base()))
		}
	})

	changes := []struct {
		name   string
		object string
		txn    Txn
	}{
		{"value", "a", puts("k1", `2`)},
		{"value same number other text", "a", puts("k1", `1.0`)},
		{"new key", "a", puts("k3", `1`)},
		{"new object", "c", puts("k", `1`)},
		{"delete", "a", Txn{Success: []Op{{Op: OpDelete, Key: "k2"}}}},
		{"delete all", "b", Txn{Success: []Op{{Op: OpDeleteAll}}}},
		{"move key to neighbour object", "a\x00", puts("k", `1`)},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			mustApply(t, s, tt.object, tt.txn)
			if s.Digest() == d0 {
				t.Fatalf("digest unchanged after %s", tt.name)
			}
		})
	}

	t.Run("length prefixed", func(t *testing.T) {
		pairs := [][2][3]string{
			{{"a", "bc", `1`}, {"ab", "c", `1`}},
			{{"o", "k1", `1`}, {"o", "k", `11`}},
			{{"o", "a", `"b"`}, {"oa", "", `"b"`}},
		}
		for _, p := range pairs {
			x, y := NewStore(), NewStore()
			x.Load(p[0][0], p[0][1], json.RawMessage(p[0][2]))
			y.Load(p[1][0], p[1][1], json.RawMessage(p[1][2]))
			if x.Digest() == y.Digest() {
				t.Errorf("digest of %q equals digest of %q", p[0], p[1])
			}
		}
	})
}

func TestObjectNameShared(t *testing.T) {
	// Keys of one object added by separate commands share the name's bytes,
	// so memory per key does not grow with the name's length.
	s := NewStore()
	name := string(make([]byte, 200))
	mustApply(t, s, string([]byte(name)), puts("a", `1`))
	mustApply(t, s, string([]byte(name)), puts("b", `1`))
	var ptrs []*byte
	s.tree.Ascend(func(it item) bool {
		ptrs = append(ptrs, unsafe.StringData(it.object))
		return true
	})
	if len(ptrs) != 2 || ptrs[0] != ptrs[1] {
		t.Fatal("keys of one object hold separate copies of its name")
	}
}

func keyN(i int) string {
	const digits = "0123456789"
	b := []byte("k000000")
	for j := len(b) - 1; j > 0 && i > 0; j-- {
		b[j] = digits[i%10]
		i /= 10
	}
	return string(b)
}
