package objects

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// listStore holds object "a" and its byte-order neighbours, whose keys must
// never appear in a list of "a".
func listStore(t *testing.T) *Store {
	t.Helper()
	s := NewStore()
	for _, k := range []string{"a", "ab", "abc", "abd", "ac", "b", "ba", "c", "\xff", "\xff\xff"} {
		s.Load("a", k, json.RawMessage(`"`+fmt.Sprintf("%x", k)+`"`))
	}
	for _, o := range []string{"", "`", "a\x00", "a\x00b", "ab", "b"} {
		for _, k := range []string{"\x00", "a", "abc", "b", "z", "\xff"} {
			s.Load(o, k, json.RawMessage(`0`))
		}
	}
	return s
}

func TestList(t *testing.T) {
	s := listStore(t)
	all := []string{"a", "ab", "abc", "abd", "ac", "b", "ba", "c", "\xff", "\xff\xff"}
	rev := func(k []string) []string { k = slices.Clone(k); slices.Reverse(k); return k }
	tests := []struct {
		name   string
		object string
		o      ListOptions
		want   []string
		more   bool
	}{
		{"all", "a", ListOptions{}, all, false},
		{"all reverse", "a", ListOptions{Reverse: true}, rev(all), false},
		{"absent object", "zz", ListOptions{}, nil, false},
		{"absent object between neighbours", "a\x00a", ListOptions{}, nil, false},
		{"prefix", "a", ListOptions{Prefix: "ab"}, []string{"ab", "abc", "abd"}, false},
		{"prefix reverse", "a", ListOptions{Prefix: "ab", Reverse: true}, []string{"abd", "abc", "ab"}, false},
		{"prefix no match", "a", ListOptions{Prefix: "abz"}, nil, false},
		{"prefix 0xff", "a", ListOptions{Prefix: "\xff"}, []string{"\xff", "\xff\xff"}, false},
		{"prefix 0xff reverse", "a", ListOptions{Prefix: "\xff", Reverse: true}, []string{"\xff\xff", "\xff"}, false},
		{"prefix with start inside", "a", ListOptions{Prefix: "ab", Start: "abc"}, []string{"abc", "abd"}, false},
		{"prefix with start before", "a", ListOptions{Prefix: "ab", Start: "a"}, []string{"ab", "abc", "abd"}, false},
		{"prefix with start after", "a", ListOptions{Prefix: "ab", Start: "ac"}, nil, false},
		{"prefix with end inside", "a", ListOptions{Prefix: "ab", End: "abd"}, []string{"ab", "abc"}, false},
		{"prefix with end after", "a", ListOptions{Prefix: "ab", End: "b"}, []string{"ab", "abc", "abd"}, false},
		{"prefix with start and end", "a", ListOptions{Prefix: "ab", Start: "abc", End: "abd"}, []string{"abc"}, false},
		{"prefix with startAfter", "a", ListOptions{Prefix: "ab", StartAfter: "ab"}, []string{"abc", "abd"}, false},
		{"prefix with startAfter before prefix", "a", ListOptions{Prefix: "ab", StartAfter: "a"}, []string{"ab", "abc", "abd"}, false},
		{"prefix with end before start, reverse", "a", ListOptions{Prefix: "ab", Start: "abd", End: "abc", Reverse: true}, nil, false},
		{"start inclusive", "a", ListOptions{Start: "b"}, []string{"b", "ba", "c", "\xff", "\xff\xff"}, false},
		{"start absent key", "a", ListOptions{Start: "abz"}, []string{"ac", "b", "ba", "c", "\xff", "\xff\xff"}, false},
		{"startAfter exclusive", "a", ListOptions{StartAfter: "b"}, []string{"ba", "c", "\xff", "\xff\xff"}, false},
		{"startAfter absent key", "a", ListOptions{StartAfter: "bb"}, []string{"c", "\xff", "\xff\xff"}, false},
		{"startAfter last", "a", ListOptions{StartAfter: "\xff\xff"}, nil, false},
		{"end exclusive", "a", ListOptions{End: "ab"}, []string{"a"}, false},
		{"end first key", "a", ListOptions{End: "a"}, nil, false},
		{"start and end", "a", ListOptions{Start: "ab", End: "b"}, []string{"ab", "abc", "abd", "ac"}, false},
		{"start equals end", "a", ListOptions{Start: "b", End: "b"}, nil, false},
		{"end before start", "a", ListOptions{Start: "c", End: "b"}, nil, false},
		{"end before start reverse", "a", ListOptions{Start: "c", End: "b", Reverse: true}, nil, false},
		{"startAfter just below end", "a", ListOptions{StartAfter: "b", End: "b\x00"}, nil, false},
		{"startAfter and end", "a", ListOptions{StartAfter: "b", End: "c\x00"}, []string{"ba", "c"}, false},
		{"limit 0 is no limit", "a", ListOptions{Limit: 0}, all, false},
		{"limit 1", "a", ListOptions{Limit: 1}, []string{"a"}, true},
		{"limit 3", "a", ListOptions{Limit: 3}, []string{"a", "ab", "abc"}, true},
		{"limit exact", "a", ListOptions{Limit: len(all)}, all, false},
		{"limit over", "a", ListOptions{Limit: 100}, all, false},
		{"limit exact in range", "a", ListOptions{Prefix: "ab", Limit: 3}, []string{"ab", "abc", "abd"}, false},
		{"limit with more in range", "a", ListOptions{Prefix: "ab", Limit: 2}, []string{"ab", "abc"}, true},
		{"limit on empty range", "a", ListOptions{Prefix: "x", Limit: 1}, nil, false},
		{"reverse limit takes from the end", "a", ListOptions{Reverse: true, Limit: 2}, []string{"\xff\xff", "\xff"}, true},
		{"reverse limit exact", "a", ListOptions{Reverse: true, Limit: len(all)}, rev(all), false},
		{"reverse with end", "a", ListOptions{Reverse: true, End: "b"}, []string{"ac", "abd", "abc", "ab", "a"}, false},
		{"reverse with end and limit", "a", ListOptions{Reverse: true, End: "b", Limit: 2}, []string{"ac", "abd"}, true},
		{"reverse with start", "a", ListOptions{Reverse: true, Start: "c"}, []string{"\xff\xff", "\xff", "c"}, false},
		{"reverse with startAfter", "a", ListOptions{Reverse: true, StartAfter: "c"}, []string{"\xff\xff", "\xff"}, false},
		{"reverse with start, end, limit", "a", ListOptions{Reverse: true, Start: "ab", End: "ba", Limit: 3}, []string{"b", "ac", "abd"}, true},
		{"reverse with start, end, exact limit", "a", ListOptions{Reverse: true, Start: "abd", End: "ba", Limit: 3}, []string{"b", "ac", "abd"}, false},
		{"reverse prefix limit", "a", ListOptions{Reverse: true, Prefix: "ab", Limit: 1}, []string{"abd"}, true},
		{"neighbour a\\x00b", "a\x00b", ListOptions{}, []string{"\x00", "a", "abc", "b", "z", "\xff"}, false},
		{"neighbour a\\x00 reverse", "a\x00", ListOptions{Reverse: true}, []string{"\xff", "z", "b", "abc", "a", "\x00"}, false},
		{"neighbour ab prefix", "ab", ListOptions{Prefix: "a"}, []string{"a", "abc"}, false},
		{"empty object name", "", ListOptions{Reverse: true, Limit: 2}, []string{"\xff", "z"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, more, err := s.List(tt.object, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if entries == nil {
				t.Fatal("entries is nil, want an empty slice")
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Key)
				if v, _ := s.Get(tt.object, e.Key); string(v) != string(e.Value) {
					t.Errorf("entry %q has value %s, stored %s", e.Key, e.Value, v)
				}
			}
			if !equalStrings(got, tt.want) || more != tt.more {
				t.Fatalf("List(%q, %+v) = %q, more=%v; want %q, more=%v", tt.object, tt.o, got, more, tt.want, tt.more)
			}
		})
	}
}

func TestListNextObjectWithEmptyKey(t *testing.T) {
	// (object+"\x00", "") is the first possible item after object; Load
	// accepts an empty key, and a reverse list must still skip it.
	s := NewStore()
	s.Load("a", "k", json.RawMessage(`1`))
	s.Load("a\x00", "", json.RawMessage(`2`))
	s.Load("a\x00", "k", json.RawMessage(`3`))
	for _, reverse := range []bool{false, true} {
		entries, more, err := s.List("a", ListOptions{Reverse: reverse})
		if err != nil || more || len(entries) != 1 || entries[0].Key != "k" || string(entries[0].Value) != `1` {
			t.Fatalf("List(a, reverse=%v) = %+v, %v, %v; want only k=1", reverse, entries, more, err)
		}
	}
}

func TestListInvalid(t *testing.T) {
	s := listStore(t)
	tests := []struct {
		name string
		o    ListOptions
	}{
		{"start and startAfter", ListOptions{Start: "a", StartAfter: "b"}},
		{"negative limit", ListOptions{Limit: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.List("a", tt.o); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestListModel compares List with a naive filter-and-sort over random
// stores and options (fixed seed: the test is deterministic).
func TestListModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"\x00", "a", "b", "\xff"}
	randKey := func(minLen int) string {
		var b strings.Builder
		for range minLen + rng.IntN(3) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	objects := []string{"a", "a\x00", "a\x00b", "ab", "b"}
	for round := range 300 {
		s := NewStore()
		model := map[string]map[string]string{}
		for range rng.IntN(40) {
			o, k := objects[rng.IntN(len(objects))], randKey(1)
			v := fmt.Sprint(rng.IntN(100))
			s.Load(o, k, json.RawMessage(v))
			if model[o] == nil {
				model[o] = map[string]string{}
			}
			model[o][k] = v
		}
		for range 20 {
			o := ListOptions{Prefix: randKey(0), End: randKey(0), Limit: rng.IntN(5), Reverse: rng.IntN(2) == 0}
			switch rng.IntN(3) {
			case 0:
				o.Start = randKey(0)
			case 1:
				o.StartAfter = randKey(0)
			}
			object := objects[rng.IntN(len(objects))]
			want, wantMore := naiveList(model[object], o)
			entries, more, err := s.List(object, o)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Key+"="+string(e.Value))
			}
			if !equalStrings(got, want) || more != wantMore {
				t.Fatalf("round %d: List(%q, %+v) = %q more=%v; want %q more=%v", round, object, o, got, more, want, wantMore)
			}
		}
	}
}

func naiveList(m map[string]string, o ListOptions) ([]string, bool) {
	var keys []string
	for k := range m {
		if !strings.HasPrefix(k, o.Prefix) ||
			(o.Start != "" && k < o.Start) ||
			(o.StartAfter != "" && k <= o.StartAfter) ||
			(o.End != "" && k >= o.End) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if o.Reverse {
		slices.Reverse(keys)
	}
	more := false
	if o.Limit > 0 && len(keys) > o.Limit {
		keys, more = keys[:o.Limit], true
	}
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out, more
}
