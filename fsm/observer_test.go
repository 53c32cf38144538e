package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"sync"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// recorder is an Observer that keeps what it hears, and checks that the
// applied index has not moved past a change when it is told of it.
type recorder struct {
	t        *testing.T
	m        *Machine
	mu       sync.Mutex
	changes  []ObjectChange
	restored []uint64
}

func (r *recorder) ObjectsChanged(cs []ObjectChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		if r.m.LastApplied() >= c.Index {
			r.t.Errorf("told of index %d after the applied index reached %d", c.Index, r.m.LastApplied())
		}
	}
	r.changes = append(r.changes, cs...)
}

func (r *recorder) Restored(index uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored = append(r.restored, index)
}

func newObserved(t *testing.T) (*Machine, *recorder) {
	r := &recorder{t: t}
	r.m = New(Options{Observer: r})
	return r.m, r
}

func TestObserverHearsEachObjectChangeOnce(t *testing.T) {
	m, rec := newObserved(t)
	f := &feeder{t: t, m: m}
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: put("a", "k", `"v"`), Time: 1})                                                 // 1
	f.apply(&Command{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h"}, Time: 1})                                          // 2: no object
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpGet, Key: "k"}}}, Time: 1})    // 3: read only
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: incr("a", "k", 1), Time: 1})                                                    // 4: conflict, nothing
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpDelete, Key: "k"}}}, Time: 1}) // 5

	// 6: one batch entry touching b, a, b: b's two commands merge.
	var subs [][]byte
	for _, c := range []*Command{
		{Kind: KindTxn, Object: "b", Txn: incr("b", "value", 1), Time: 2},
		{Kind: KindTxn, Object: "a", Txn: put("a", "x", `1`), Time: 2},
		{Kind: KindTxn, Object: "b", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "value", By: 2}, {Op: objects.OpPut, Key: "w", Value: json.RawMessage(`true`)}}}, Time: 2},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, b)
	}
	data, err := Encode(&Command{Kind: KindBatch, Batch: subs})
	if err != nil {
		t.Fatal(err)
	}
	m.ApplyBatch([]*raft.Log{{Index: 6, Type: raft.LogCommand, Data: data}})

	want := []ObjectChange{
		{Index: 1, Object: "a", Changes: []objects.Change{{Key: "k", Value: json.RawMessage(`"v"`)}}},
		{Index: 5, Object: "a", Changes: []objects.Change{{Key: "k", Deleted: true}}},
		{Index: 6, Object: "b", Changes: []objects.Change{{Key: "value", Value: json.RawMessage(`3`)}, {Key: "w", Value: json.RawMessage(`true`)}}},
		{Index: 6, Object: "a", Changes: []objects.Change{{Key: "x", Value: json.RawMessage(`1`)}}},
	}
	if !reflect.DeepEqual(rec.changes, want) {
		t.Fatalf("observed:\n%+v\nwant\n%+v", rec.changes, want)
	}
}

// TestObserverDoesNotChangeApply: the same log gives the same responses
// and state with and without an Observer.
func TestObserverDoesNotChangeApply(t *testing.T) {
	cmds := []*Command{
		{Kind: KindTxn, Object: "a", Txn: put("a", "k", `"v"`), IdemKey: "x", Time: 1, IdemExpires: 50},
		{Kind: KindTxn, Object: "b", Txn: incr("b", "value", 3), Time: 2},
		{Kind: KindTxn, Object: "a", Txn: incr("a", "k", 3), Time: 2},
		{Kind: KindTxn, Object: "a", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpDeleteAll}}}, Time: 3},
		{Kind: KindTxn, Object: "a", Txn: put("a", "k", `"w"`), IdemKey: "x", Time: 4, IdemExpires: 100},
	}
	plain := &feeder{t: t, m: New(Options{})}
	om, _ := newObserved(t)
	observed := &feeder{t: t, m: om}
	for i, c := range cmds {
		a, b := plain.apply(c), observed.apply(c)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("command %d: response %+v with an observer, %+v without", i, b, a)
		}
	}
	d1, _, _, _ := plain.m.Digest()
	d2, _, _, _ := om.Digest()
	if d1 != d2 {
		t.Fatal("state differs with an observer")
	}
}

func TestObserverHearsRestore(t *testing.T) {
	src := New(Options{})
	f := &feeder{t: t, m: src}
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: put("a", "k", `1`), Time: 1})
	f.apply(&Command{Kind: KindTxn, Object: "a", Txn: put("a", "k", `2`), Time: 1})
	data := snapshotBytes(t, src)
	m, rec := newObserved(t)
	if err := m.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.restored, []uint64{2}) || len(rec.changes) != 0 {
		t.Fatalf("restored = %v, changes = %v; want [2] and none", rec.restored, rec.changes)
	}
}
