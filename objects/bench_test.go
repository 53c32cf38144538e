package objects

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkList lists 100 keys from the middle of an object of 100k keys,
// among other objects: the cost must follow the limit, not the object size.
func BenchmarkList(b *testing.B) {
	s := NewStore()
	for _, o := range []string{"a", "big", "c"} {
		for i := range 100_000 {
			s.Load(o, fmt.Sprintf("key-%06d", i), json.RawMessage(`{"n":1}`))
		}
	}
	for _, tt := range []struct {
		name string
		o    ListOptions
	}{
		{"forward", ListOptions{Start: "key-050000", Limit: 100}},
		{"reverse", ListOptions{End: "key-050000", Limit: 100, Reverse: true}},
		{"prefix", ListOptions{Prefix: "key-0500", Limit: 100}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				entries, more, err := s.List("big", tt.o)
				if err != nil || len(entries) != 100 || tt.name != "prefix" && !more {
					b.Fatalf("List = %d entries, more=%v, %v", len(entries), more, err)
				}
			}
		})
	}
}

// BenchmarkApplyIncrement is the counter hot path: one increment txn on a
// store that already holds many keys.
func BenchmarkApplyIncrement(b *testing.B) {
	s := NewStore()
	for i := range 100_000 {
		s.Load(fmt.Sprintf("obj-%d", i%1000), fmt.Sprintf("k%d", i), json.RawMessage(`1`))
	}
	txn := Txn{Success: []Op{{Op: OpIncrement, Key: "value", By: 1}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply("obj-500", txn); err != nil {
			b.Fatal(err)
		}
	}
}
