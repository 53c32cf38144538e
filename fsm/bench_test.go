package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// benchIncrement is the command a `POST /<name>/increment` proposes: the
// hottest write path. Without an Idempotency-Key, so that re-applying the
// same entry applies it again rather than replaying a remembered result.
func benchIncrement(object string, t int64) *Command {
	return &Command{Kind: KindTxn, Object: object, Txn: incr(object, "value", 1), Time: t}
}

func BenchmarkCodec(b *testing.B) {
	c := benchIncrement("card-1", 1)
	c.IdemKey, c.IdemExpires = "req-1", 1+600e9
	data, err := Encode(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Encode(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := Decode(data)
			if err != nil || got.Object != "card-1" || len(got.Txn.Success) != 1 {
				b.Fatalf("decode: %+v, %v", got, err)
			}
		}
	})
}

// BenchmarkApply applies one increment per log entry, the way Raft hands
// entries over when there is no batch, spread over 1000 objects.
func BenchmarkApply(b *testing.B) {
	m := New(Options{})
	entries := encodedIncrements(b, 1000, 1000)
	var index uint64
	b.ReportAllocs()
	for b.Loop() {
		index++
		l := entries[index%uint64(len(entries))]
		l.Index = index
		r, ok := m.Apply(l).(*Response)
		if !ok || r.Err != nil || !r.Result.Succeeded {
			b.Fatalf("apply: %+v", r)
		}
	}
	if m.LastApplied() != index {
		b.Fatalf("last applied %d, want %d", m.LastApplied(), index)
	}
}

// BenchmarkApplyBatch applies 64 increments per call, as Raft does under
// load with the BatchingFSM; ns/op is per batch.
func BenchmarkApplyBatch64(b *testing.B) {
	const batch = 64
	m := New(Options{})
	entries := encodedIncrements(b, batch*16, 1000)
	var index uint64
	logs := make([]*raft.Log, batch)
	b.ReportAllocs()
	for b.Loop() {
		for i := range logs {
			index++
			l := entries[index%uint64(len(entries))]
			l.Index = index
			logs[i] = l
		}
		out := m.ApplyBatch(logs)
		for i, o := range out {
			if r, ok := o.(*Response); !ok || r.Err != nil || !r.Result.Succeeded {
				b.Fatalf("entry %d: %+v", i, o)
			}
		}
	}
	if m.LastApplied() != index {
		b.Fatalf("last applied %d, want %d", m.LastApplied(), index)
	}
}

// encodedIncrements returns n increment entries over the given number of
// objects, encoded once up front so that the benchmarks measure
// decode+apply, not encode.
func encodedIncrements(b *testing.B, n, objectCount int) []*raft.Log {
	b.Helper()
	out := make([]*raft.Log, n)
	for i := range out {
		data, err := Encode(benchIncrement(fmt.Sprintf("obj-%d", i%objectCount), int64(i+1)))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = &raft.Log{Type: raft.LogCommand, Data: data}
	}
	return out
}
