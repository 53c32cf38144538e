package classes

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dobj/dobj/objects"
)

// TestOverlayListMatchesStore: listing committed state through an overlay
// of random writes gives what listing a store with the writes applied gives,
// for random options; and the overlay's Effects turn the one into the other.
func TestOverlayListMatchesStore(t *testing.T) {
	keys := []string{"a", "aa", "ab", "b", "ba", "bb", "c", "ca", "d", "\xff", "\xff\xff"}
	pick := func(r *rand.Rand) string {
		if r.IntN(5) == 0 {
			return ""
		}
		return keys[r.IntN(len(keys))]
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		st := newFakeState("o")
		for _, k := range keys {
			if r.IntN(2) == 0 {
				st.load(k, fmt.Sprint(r.IntN(100)))
			}
		}
		want := objects.NewStore() // the committed state with the writes applied
		for _, e := range st.List(objects.ListOptions{}) {
			want.Load("o", e.Key, e.Value)
		}
		var ov overlay
		for range r.IntN(8) {
			k := keys[r.IntN(len(keys))]
			switch r.IntN(7) {
			case 0:
				ov.deleteAll()
				if _, err := want.Apply("o", objects.Txn{Success: []objects.Op{{Op: objects.OpDeleteAll}}}); err != nil {
					t.Fatal(err)
				}
			case 1, 2:
				_, had := want.Get("o", k)
				if got := ov.del(st, k); got != had {
					t.Fatalf("case %d: del(%q) = %v, want %v", i, k, got, had)
				}
				if _, err := want.Apply("o", objects.Txn{Success: []objects.Op{{Op: objects.OpDelete, Key: k}}}); err != nil {
					t.Fatal(err)
				}
			default:
				v := json.RawMessage(fmt.Sprint(100 + r.IntN(100)))
				ov.put(k, v)
				want.Load("o", k, v)
			}
		}
		opts := objects.ListOptions{Prefix: pick(r), End: pick(r), Reverse: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			opts.Start = pick(r)
		} else {
			opts.StartAfter = pick(r)
		}
		if r.IntN(2) == 0 {
			opts.Limit = 1 + r.IntN(4)
		}
		got := ov.list(st, opts)
		exp, _, err := want.List("o", opts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, exp, func(a, b objects.Entry) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
			t.Fatalf("case %d: list %+v\ngot  %s\nwant %s", i, opts, entries(got), entries(exp))
		}
		for _, k := range keys {
			gv, gok := ov.get(st, k)
			wv, wok := want.Get("o", k)
			if gok != wok || string(gv) != string(wv) {
				t.Fatalf("case %d: get(%q) = %s %v, want %s %v", i, k, gv, gok, wv, wok)
			}
		}
		if err := st.apply(ov.effects()); err != nil {
			t.Fatal(err)
		}
		if st.store.Digest() != want.Digest() {
			t.Fatalf("case %d: applying the effects gives %q, want %s", i, st.dump(), entries(mustList(t, want)))
		}
	}
}

func mustList(t *testing.T, s *objects.Store) []objects.Entry {
	t.Helper()
	e, _, err := s.List("o", objects.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func entries(es []objects.Entry) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("%q=%s ", e.Key, e.Value)
	}
	return s
}

func TestOverlayEffects(t *testing.T) {
	tests := []struct {
		name string
		do   func(o *overlay, st State)
		want string
	}{
		{"nothing", func(*overlay, State) {}, `{"Ops":null,"Alarm":null}`},
		{"puts and deletes in key order", func(o *overlay, st State) {
			o.put("b", json.RawMessage(`2`))
			o.del(st, "a")
			o.put("c", json.RawMessage(`3`))
		}, `{"Ops":[{"op":"delete","key":"a"},{"op":"put","key":"b","value":2},{"op":"put","key":"c","value":3}],"Alarm":null}`},
		{"delete all first, no deletes after it", func(o *overlay, st State) {
			o.put("x", json.RawMessage(`1`))
			o.deleteAll()
			o.del(st, "y")
			o.put("z", json.RawMessage(`1`))
		}, `{"Ops":[{"op":"delete_all"},{"op":"put","key":"z","value":1}],"Alarm":null}`},
		{"alarm", func(o *overlay, st State) { o.alarm = &AlarmChange{At: 5} }, `{"Ops":null,"Alarm":{"Delete":false,"At":5}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o overlay
			tt.do(&o, newFakeState("o"))
			b, err := json.Marshal(o.effects())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("effects %s\nwant    %s", b, tt.want)
			}
		})
	}
}
