package fsm

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// feeder hands commands to a Machine as Raft would, numbering the entries.
type feeder struct {
	t     *testing.T
	m     *Machine
	index uint64
}

func (f *feeder) apply(c *Command) *Response {
	f.t.Helper()
	data, err := Encode(c)
	if err != nil {
		f.t.Fatalf("encode: %v", err)
	}
	f.index++
	out := f.m.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: data})
	if out == nil {
		return nil
	}
	return out.(*Response)
}

func incr(object, key string, by int64) objects.Txn {
	return objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: key, By: by}}}
}

func put(object, key, value string) objects.Txn {
	return objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: key, Value: json.RawMessage(value)}}}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
	}{
		{"noop", Command{Kind: KindNoop, Time: 1}},
		{"txn", Command{Kind: KindTxn, Object: "card-1", Txn: objects.Txn{
			Compare: []objects.Compare{{Key: "k", Op: objects.CmpEqual, Value: json.RawMessage(`5`)}},
			Success: []objects.Op{{Op: objects.OpPut, Key: "k", Value: json.RawMessage(`{"a":[1,"x"]}`)}, {Op: objects.OpIncrement, Key: "n", By: -3}},
			Failure: []objects.Op{{Op: objects.OpGet, Key: "k"}},
		}, IdemKey: "abc", IdemExpires: 99, Time: 42}},
		{"member", Command{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "127.0.0.1:8081"}, Time: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(&tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tt.cmd)
			have, _ := json.Marshal(got)
			if !bytes.Equal(want, have) {
				t.Fatalf("round trip:\nwant %s\nhave %s", want, have)
			}
		})
	}
}

// TestCommandWireFormat pins the bytes of a log entry. Entries outlive
// builds: a field moved, removed or retyped in commandV1/commandV2,
// txnRecord or the structs within would make a later build misread the logs and snapshots
// already on disk. Entries are arrays (Encode); those earlier builds wrote
// as maps must still decode to the same command.
func TestCommandWireFormat(t *testing.T) {
	cmd := Command{Kind: KindTxn, Object: "card-1", Txn: objects.Txn{
		Compare: []objects.Compare{{Key: "k", Op: objects.CmpEqual, Value: json.RawMessage(`5`)}},
		Success: []objects.Op{{Op: objects.OpIncrement, Key: "n", By: -3}},
	}, IdemKey: "abc", IdemExpires: 99, Time: 42}
	const (
		array = "99cc01cc01a6636172642d31939193a16ba5657175616cc401359194a9696e6372656d656e74a16ec0d3ffff" +
			"fffffffffffdc0a3616263d30000000000000063d3000000000000002a92a0a0c0"
		asMap = "88a176cc01a16bcc01a16fa6636172642d31a17482a7636f6d706172659183a36b6579a16ba26f70a565717561" +
			"6ca576616c7565c40135a7737563636573739183a26f70a9696e6372656d656e74a36b6579a16ea26279d3ffff" +
			"fffffffffffda169a3616263a178d30000000000000063a27473d3000000000000002aa16d82a26964a0a4687474" +
			"70a0"
	)
	b, err := Encode(&cmd)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != array {
		t.Fatalf("Encode wrote\n%s\nwant\n%s\n(a changed layout needs a new Version and a decoder for this one)", got, array)
	}
	want, _ := json.Marshal(cmd)
	for _, form := range []string{array, asMap} {
		raw, _ := hex.DecodeString(form)
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("decode %s: %v", form[:8], err)
		}
		if have, _ := json.Marshal(got); !bytes.Equal(have, want) {
			t.Fatalf("decode %s:\nhave %s\nwant %s", form[:8], have, want)
		}
	}
}

func TestDecodeRejectsUnknownVersionAndGarbage(t *testing.T) {
	b2, err := msgpack.Marshal(&commandV2{V: 9, Kind: KindNoop})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b2); err == nil {
		t.Fatal("version 9 decoded")
	}
	if _, err := Decode([]byte{0xc1}); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestUndecodableEntryPanics(t *testing.T) {
	m := New(Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on an undecodable entry")
		}
	}()
	m.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{0xc1}})
}

func TestIdempotency(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	first := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 5), IdemKey: "k1", Time: 100, IdemExpires: 200})
	if first.Err != nil || string(first.Result.Results[0].Value) != "5" {
		t.Fatalf("first = %+v", first)
	}
	retry := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 5), IdemKey: "k1", Time: 150, IdemExpires: 250})
	if !retry.Replayed || string(retry.Result.Results[0].Value) != "5" || retry.Index != first.Index {
		t.Fatalf("retry = %+v, want the first result replayed", retry)
	}
	// Same key on another object is another key.
	other := f.apply(&Command{Kind: KindTxn, Object: "d", Txn: incr("d", "value", 1), IdemKey: "k1", Time: 150, IdemExpires: 250})
	if other.Replayed || string(other.Result.Results[0].Value) != "1" {
		t.Fatalf("other object = %+v", other)
	}
	// After expiry (by the command's time, not a clock) it applies again.
	late := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 5), IdemKey: "k1", Time: 200, IdemExpires: 300})
	if late.Replayed || string(late.Result.Results[0].Value) != "10" {
		t.Fatalf("after expiry = %+v", late)
	}
	// A remembered conflict is replayed as a conflict.
	f.apply(&Command{Kind: KindTxn, Object: "s", Txn: put("s", "value", `"x"`), Time: 210})
	c1 := f.apply(&Command{Kind: KindTxn, Object: "s", Txn: incr("s", "value", 1), IdemKey: "k2", Time: 210, IdemExpires: 400})
	c2 := f.apply(&Command{Kind: KindTxn, Object: "s", Txn: incr("s", "value", 1), IdemKey: "k2", Time: 211, IdemExpires: 400})
	if !errors.Is(c1.Err, objects.ErrConflict) || !errors.Is(c2.Err, objects.ErrConflict) || !c2.Replayed {
		t.Fatalf("conflict replay: %+v %+v", c1, c2)
	}
}

func TestIgnoreIdempotencyBug(t *testing.T) {
	m := New(Options{IgnoreIdempotency: true})
	f := &feeder{t: t, m: m}
	f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: "k", Time: 1, IdemExpires: 100})
	r := f.apply(&Command{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), IdemKey: "k", Time: 2, IdemExpires: 100})
	if string(r.Result.Results[0].Value) != "2" {
		t.Fatalf("with the bug on, the retry should apply twice; got %s", r.Result.Results[0].Value)
	}
}

func TestWaitApplied(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	done := make(chan error, 1)
	go func() { done <- m.WaitApplied(context.Background(), 3) }()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			t.Fatalf("returned at index %d: %v", m.LastApplied(), err)
		default:
		}
		f.apply(&Command{Kind: KindNoop})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := m.WaitApplied(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline", err)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

func snapshotBytes(t *testing.T, m *Machine) []byte {
	t.Helper()
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	return sink.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	f.apply(&Command{Kind: KindSetMember, Member: Member{ID: "n2", HTTPAddr: "h2"}, Time: 1})
	f.apply(&Command{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h1"}, Time: 1})
	f.apply(&Command{Kind: KindTxn, Object: "card-1", Txn: incr("card-1", "value", 6), IdemKey: "i1", Time: 2, IdemExpires: 1000})
	f.apply(&Command{Kind: KindTxn, Object: "room", Txn: put("room", "topic", `{"b":1,"a":"x"}`), Time: 3})
	f.apply(&Command{Kind: KindTxn, Object: "room", Txn: put("room", "a/b", `[1,2]`), IdemKey: "i2", Time: 4, IdemExpires: 1000})
	data := snapshotBytes(t, m)

	// The snapshot is taken at this point: later writes do not show in it.
	f.apply(&Command{Kind: KindTxn, Object: "card-1", Txn: incr("card-1", "value", 1), Time: 5})
	wantDigest, _, _, _ := m.Digest()

	r := New(Options{})
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if r.LastApplied() != 5 {
		t.Fatalf("restored applied index = %d, want 5", r.LastApplied())
	}
	if got := r.Members(); len(got) != 2 || got["n1"] != "h1" || got["n2"] != "h2" {
		t.Fatalf("members = %v", got)
	}
	// Replaying the entry after the snapshot gives the same state.
	rf := &feeder{t: t, m: r, index: 5}
	rf.apply(&Command{Kind: KindTxn, Object: "card-1", Txn: incr("card-1", "value", 1), Time: 5})
	if got, _, _, _ := r.Digest(); got != wantDigest {
		t.Fatalf("digest after restore+replay = %s, want %s", got, wantDigest)
	}
	// The idempotency table came through: a retry of i1 is replayed.
	res := rf.apply(&Command{Kind: KindTxn, Object: "card-1", Txn: incr("card-1", "value", 6), IdemKey: "i1", Time: 6, IdemExpires: 1000})
	if !res.Replayed || string(res.Result.Results[0].Value) != "6" || res.Index != 3 {
		t.Fatalf("replay after restore = %+v", res)
	}
	// A snapshot of the restored machine is byte-identical to one of the
	// original at the same state: Persist is deterministic.
	again := New(Options{})
	again.Restore(io.NopCloser(bytes.NewReader(data)))
	if !bytes.Equal(snapshotBytes(t, again), data) {
		t.Fatal("snapshot of a restored machine differs from the original snapshot")
	}
}

func TestRestoreRejectsTruncatedSnapshot(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	for i := 0; i < 10; i++ {
		f.apply(&Command{Kind: KindTxn, Object: "o", Txn: put("o", string(rune('a'+i)), `1`), Time: 1})
	}
	data := snapshotBytes(t, m)
	if err := New(Options{}).Restore(io.NopCloser(bytes.NewReader(data[:len(data)-3]))); err == nil {
		t.Fatal("truncated snapshot restored without error")
	}
}

func TestDeterministicAcrossReplicas(t *testing.T) {
	cmds := []*Command{
		{Kind: KindTxn, Object: "a", Txn: put("a", "k", `"v"`), IdemKey: "x", Time: 1, IdemExpires: 50},
		{Kind: KindTxn, Object: "b", Txn: incr("b", "value", 3), Time: 2},
		{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h"}, Time: 3},
		{Kind: KindTxn, Object: "a", Txn: put("a", "k", `"w"`), IdemKey: "x", Time: 60, IdemExpires: 100},
	}
	var digests []string
	for i := 0; i < 2; i++ {
		f := &feeder{t: t, m: New(Options{})}
		for _, c := range cmds {
			f.apply(c)
		}
		d, _, _, _ := f.m.Digest()
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Fatalf("replicas diverged: %v", digests)
	}
}

func TestBatchAppliesInOrderWithOneResponseEach(t *testing.T) {
	m := New(Options{})
	var subs [][]byte
	for i, c := range []*Command{
		{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 1), Time: 1},
		{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h"}, Time: 1},
		{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 2), IdemKey: "k", Time: 2, IdemExpires: 100},
		{Kind: KindTxn, Object: "c", Txn: incr("c", "value", 2), IdemKey: "k", Time: 3, IdemExpires: 100},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(i, err)
		}
		subs = append(subs, b)
	}
	data, err := Encode(&Command{Kind: KindBatch, Batch: subs})
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: data}).(*BatchResponse)
	if len(out.Responses) != 4 || out.Responses[1] != nil {
		t.Fatalf("responses = %#v", out.Responses)
	}
	want := []string{"1", "", "3", "3"}
	for i, w := range want {
		if w == "" {
			continue
		}
		r := out.Responses[i].(*Response)
		if string(r.Result.Results[0].Value) != w || r.Index != 7 {
			t.Fatalf("response %d = %+v, want value %s at index 7", i, r, w)
		}
	}
	if !out.Responses[3].(*Response).Replayed || m.Members()["n1"] != "h" || m.LastApplied() != 7 {
		t.Fatal("batch did not apply every command")
	}
}

// TestCommandBodyNeedsVersion2: a command with a Body is written as
// version 2 and reads back whole; one without stays version 1 (above).
func TestCommandBodyNeedsVersion2(t *testing.T) {
	in := &Command{Kind: KindNoop, Time: 7, Body: []byte{1, 2, 3}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := arrayLen(b); n != v1Fields+1 {
		t.Fatalf("array of %d fields, want %d", n, v1Fields+1)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.V != 2 || out.Time != 7 || !bytes.Equal(out.Body, in.Body) {
		t.Fatalf("decoded %+v", out)
	}
}
