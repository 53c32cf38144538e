package fsm

import (
	"bytes"
	"fmt"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// Version is the newest command envelope version this build writes and
// reads. Version 2 added Body; version 1 entries (written by earlier
// builds, and still written by this one for commands without a Body) are
// read as they are. How version N+1 reads N: each version's array layout
// is a struct of its own (commandV1 below), Decode picks the struct by the
// array's length and converts it, and Encode writes the oldest version
// that can carry the command, so that a cluster upgraded one node at a
// time keeps reading every entry until a command needs the new layout.
//
// Version 3 keeps version 2's layout and changes what a keyed class call
// (KindCall with an IdemKey) does when applied (issue 21): its Call
// carries the request's hash, a key reused for another request is
// refused, a full idempotency table refuses it, and its remembered
// response counts toward the table's bound. A version 2 call still
// applies as before, so a node that replays entries of an earlier build
// gets the state that build got; a build before version 3 refuses a
// version 3 entry (it panics, as on any entry it cannot read) rather
// than applying it the old way and diverging. Encode writes version 3
// only for keyed calls (callVersion).
//
// Version 4 keeps the layout too and adds, in a KindCall's Body, the SQL
// writes of an SQLite-backed object (Call.SQL, issue 22), which Apply
// re-runs on the object's database. A build before version 4 would read
// such a body, skip the field it does not know and apply the call without
// its writes; it refuses a version 4 entry instead. Encode writes version
// 4 only for calls that carry SQL writes (sqlCallVersion), keyed or not;
// a keyed one applies as version 3 does besides.
const Version = 4

// callVersion is the version of keyed class calls (see Version).
const callVersion = 3

// sqlCallVersion is the version of calls with SQL writes (see Version).
const sqlCallVersion = 4

// Kind says what a Command does.
type Kind uint8

const (
	// KindNoop changes nothing; a new leader commits one before it serves
	// linearizable reads, so that the FSM has seen every earlier entry.
	KindNoop Kind = iota
	// KindTxn applies Txn to Object.
	KindTxn
	// KindSetMember publishes a member's HTTP address.
	KindSetMember
	// KindRemoveMember forgets a member's HTTP address.
	KindRemoveMember
	// KindBatch carries several encoded commands in one log entry, applied
	// in order; the leader groups concurrent writes this way so that one
	// Raft entry, one disk write and one replication carry many of them.
	KindBatch
)

// Command is one entry of the Raft log, as the domain's values; Encode
// and Decode convert it to and from its layout (commandV1, commandV2).
// Time and IdemExpires are set by the leader that proposes it, so that
// every replica applies the same values.
type Command struct {
	V           uint8
	Kind        Kind
	Object      string
	Txn         objects.Txn
	IdemKey     string
	IdemExpires int64    // leader's unix ns after which the key is forgotten
	Time        int64    // leader's unix ns when proposed
	Member      Member   // KindSetMember, KindRemoveMember
	Batch       [][]byte // KindBatch: commands as Encode wrote them
	// Body is a kind's own payload, encoded by the package that owns the
	// kind (version 2): new kinds carry their data here rather than as
	// new envelope fields, so the envelope stays put.
	Body []byte
}

// commandV2 is the layout of versions 2 and 3 (and, as a map, of entries
// of builds before arrays).
type commandV2 struct {
	V           uint8     `msgpack:"v"`
	Kind        Kind      `msgpack:"k"`
	Object      string    `msgpack:"o,omitempty"`
	Txn         txnRecord `msgpack:"t,omitempty"`
	IdemKey     string    `msgpack:"i,omitempty"`
	IdemExpires int64     `msgpack:"x,omitempty"`
	Time        int64     `msgpack:"ts"`
	Member      Member    `msgpack:"m,omitempty"`
	Batch       [][]byte  `msgpack:"b,omitempty"`
	Body        []byte    `msgpack:"body,omitempty"`
}

// commandV1 is the version 1 layout: version 2's without Body.
type commandV1 struct {
	V           uint8     `msgpack:"v"`
	Kind        Kind      `msgpack:"k"`
	Object      string    `msgpack:"o,omitempty"`
	Txn         txnRecord `msgpack:"t,omitempty"`
	IdemKey     string    `msgpack:"i,omitempty"`
	IdemExpires int64     `msgpack:"x,omitempty"`
	Time        int64     `msgpack:"ts"`
	Member      Member    `msgpack:"m,omitempty"`
	Batch       [][]byte  `msgpack:"b,omitempty"`
}

// v1Fields is the length of a version 1 entry's array.
const v1Fields = 9

// BatchResponse is what applying a KindBatch command returns: one
// response per command, in order (nil for commands without one).
type BatchResponse struct {
	Responses []interface{}
}

// Member is a node's id and the HTTP address it serves on.
type Member struct {
	ID       string `msgpack:"id"`
	HTTPAddr string `msgpack:"http"`
}

// Encode returns the command's log entry bytes: msgpack arrays of the
// fields in declaration order, for its layout and every struct in it. Arrays
// encode in a third of the time maps with omitempty take (no field names,
// no per-call list of non-empty fields) and are a third smaller. Decode
// reads both forms, so entries written as maps by earlier builds still
// apply. An array's length must match the struct's field count: fields are
// append-only, and a new one needs a new Version with a decoder for the
// old length. TestCommandWireFormat pins the layout.
func Encode(c *Command) ([]byte, error) {
	switch {
	case c.Body == nil:
		c.V = 1
	case c.Kind == KindCall && callHasSQL(c.Body):
		c.V = sqlCallVersion
	case c.Kind == KindCall && c.IdemKey != "":
		c.V = callVersion
	default:
		c.V = 2
	}
	var v any
	if c.V == 1 {
		v = &commandV1{V: 1, Kind: c.Kind, Object: c.Object, Txn: txnRecordOf(c.Txn), IdemKey: c.IdemKey,
			IdemExpires: c.IdemExpires, Time: c.Time, Member: c.Member, Batch: c.Batch}
	} else {
		v = &commandV2{V: c.V, Kind: c.Kind, Object: c.Object, Txn: txnRecordOf(c.Txn), IdemKey: c.IdemKey,
			IdemExpires: c.IdemExpires, Time: c.Time, Member: c.Member, Batch: c.Batch, Body: c.Body}
	}
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode parses a log entry written by Encode (or, as a map, by a build
// before arrays).
func Decode(b []byte) (*Command, error) {
	if err := WellFormed(b); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	var w commandV2
	if arrayLen(b) == v1Fields {
		var v1 commandV1
		if err := msgpack.Unmarshal(b, &v1); err != nil {
			return nil, fmt.Errorf("decode command: %w", err)
		}
		w = commandV2{V: v1.V, Kind: v1.Kind, Object: v1.Object, Txn: v1.Txn, IdemKey: v1.IdemKey,
			IdemExpires: v1.IdemExpires, Time: v1.Time, Member: v1.Member, Batch: v1.Batch}
	} else if err := msgpack.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	c := Command{V: w.V, Kind: w.Kind, Object: w.Object, Txn: w.Txn.txn(), IdemKey: w.IdemKey,
		IdemExpires: w.IdemExpires, Time: w.Time, Member: w.Member, Batch: w.Batch, Body: w.Body}
	if c.V < 1 || c.V > Version {
		return nil, fmt.Errorf("decode command: unknown version %d", c.V)
	}
	return &c, nil
}

// arrayLen is the length of the msgpack array b starts with, or -1 when
// b does not start with an array (a map, from builds before arrays).
func arrayLen(b []byte) int {
	switch {
	case len(b) == 0:
		return -1
	case b[0]&0xf0 == 0x90: // fixarray
		return int(b[0] & 0x0f)
	case b[0] == 0xdc && len(b) >= 3: // array 16
		return int(b[1])<<8 | int(b[2])
	}
	return -1
}

// WellFormed checks that b starts with one whole msgpack value, without
// building it. msgpack v5.4.1 sizes a slice by the length its header
// declares before it reads one element (its allocation limit is never
// applied), so a few bytes declaring a billion elements would take the
// process's memory; walking the value first fails on such a header as
// soon as the bytes run out. Decoders of bytes from outside (log entries,
// peer requests) call it first.
func WellFormed(b []byte) error {
	if err := msgpack.NewDecoder(bytes.NewReader(b)).Skip(); err != nil {
		return fmt.Errorf("malformed msgpack: %w", err)
	}
	return nil
}
