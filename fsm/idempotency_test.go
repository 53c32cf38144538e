package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// TestIdempotencyTableRefusesWhenFull: past its byte bound the table
// refuses new keyed writes (nothing applied) rather than dropping a live
// key, still replays the keys it holds, takes unkeyed writes, and takes
// keyed writes again once entries expire.
func TestIdempotencyTableRefusesWhenFull(t *testing.T) {
	m := New(Options{})
	m.idem.maxBytes = 10 * entryOverhead
	f := &feeder{t: t, m: m}
	var first *Response
	n := 0
	for ; n < 100; n++ {
		r := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: fmt.Sprint("k", n), Time: 1, IdemExpires: 100})
		if n == 0 {
			first = r
		}
		if errors.Is(r.Err, ErrIdempotencyFull) {
			break
		}
		if r.Err != nil {
			t.Fatalf("write %d: %v", n, r.Err)
		}
	}
	if n == 0 || n == 100 {
		t.Fatalf("refused after %d keyed writes, want after a few", n)
	}
	var v int64
	m.Read(func(s *objects.Store) { v, _ = s.Counter("c", "value") })
	if v != int64(n) {
		t.Fatalf("counter = %d after %d accepted writes: the refused one was applied", v, n)
	}
	// Every live key is still remembered: a retry of the first replays.
	retry := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: "k0", Time: 2, IdemExpires: 100})
	if !retry.Replayed || string(retry.Result.Results[0].Value) != string(first.Result.Results[0].Value) {
		t.Fatalf("retry of a live key = %+v, want the first answer replayed", retry)
	}
	if r := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), Time: 3}); r.Err != nil {
		t.Fatalf("unkeyed write refused: %v", r.Err)
	}
	// Once the entries expire, keyed writes are taken again.
	if r := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: "new", Time: 100, IdemExpires: 200}); r.Err != nil {
		t.Fatalf("keyed write after expiry: %v", r.Err)
	}
	if m.idem.len() != 1 || m.idem.bytes <= 0 || m.idem.bytes > 2*entryOverhead {
		t.Fatalf("table holds %d entries, %d bytes; want the one new entry", m.idem.len(), m.idem.bytes)
	}
}

// TestIdempotencyKeyTiedToRequest: a key reused for another write is
// refused with ErrIdempotencyMismatch and applies nothing; the same
// request replays.
func TestIdempotencyKeyTiedToRequest(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: "k", Time: 1, IdemExpires: 100})
	tests := []struct {
		name   string
		object string
		txn    objects.Txn
		want   error
	}{
		{"same request replays", "c", incr("c", "value", 1), nil},
		{"another amount", "c", incr("c", "value", 2), ErrIdempotencyMismatch},
		{"another key", "c", incr("c", "other", 1), ErrIdempotencyMismatch},
		{"another op", "c", put("c", "value", `1`), ErrIdempotencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.apply(&Command{Kind: KindTxn, Object: tt.object, Txn: tt.txn, IdemKey: "k", Time: 2, IdemExpires: 100})
			if !errors.Is(r.Err, tt.want) {
				t.Fatalf("err = %v, want %v", r.Err, tt.want)
			}
			if tt.want == nil && !r.Replayed {
				t.Fatalf("not replayed: %+v", r)
			}
		})
	}
	var v int64
	m.Read(func(s *objects.Store) { v, _ = s.Counter("c", "value") })
	if v != 1 {
		t.Fatalf("counter = %d, want 1: a mismatched request was applied", v)
	}
}

// TestIdempotencyEntryWithoutHashStillReads: entries of snapshots written
// before the request hash (no "h" field) restore, and replay for any
// request.
func TestIdempotencyEntryWithoutHashStillReads(t *testing.T) {
	type oldEntry struct {
		Key     string  `msgpack:"k"`
		Expires int64   `msgpack:"x"`
		Outcome outcome `msgpack:"o"`
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	h := snapshotHeader{V: snapshotVersion, Applied: 7, Members: []Member{}, Idem: 1}
	if err := enc.Encode(&h); err != nil {
		t.Fatal(err)
	}
	res := objects.TxnResult{Succeeded: true, Results: []objects.Result{{Op: objects.OpIncrement, Key: "value", Value: []byte("41")}}}
	if err := enc.Encode(&oldEntry{Key: idemKey("c", "k"), Expires: 100, Outcome: outcome{Result: txnResultRecordOf(res), Index: 3}}); err != nil {
		t.Fatal(err)
	}
	m := New(Options{})
	if err := m.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	f := &feeder{t: t, m: m, index: 7}
	r := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 5), IdemKey: "k", Time: 2, IdemExpires: 100})
	if r.Err != nil || !r.Replayed || string(r.Result.Results[0].Value) != "41" {
		t.Fatalf("replay of an old entry = %+v", r)
	}
}

// TestConcurrentSnapshotsAndDigests: Digest and Snapshot clone the
// B-trees, and google/btree's Clone writes to the tree it clones; under
// -race, two at once raced while they held only the read lock.
func TestConcurrentSnapshotsAndDigests(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	for i := 0; i < 200; i++ {
		f.apply(&Command{Kind: KindTxn, Object: fmt.Sprint("o", i), Txn: incr("", "value", 1), IdemKey: fmt.Sprint(i), Time: 1, IdemExpires: 100})
	}
	var wg sync.WaitGroup
	digests := make([]string, 8)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				digests[i], _, _, _ = m.Digest()
				return
			}
			if _, err := m.Snapshot(); err != nil {
				t.Error(err)
			}
			digests[i], _, _, _ = m.Digest()
		}()
	}
	wg.Wait()
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Fatalf("digests differ: %v", digests)
		}
	}
}
