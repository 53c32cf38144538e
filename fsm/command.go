package fsm

import (
	"bytes"
	"fmt"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// Version is the command envelope version this build writes and reads.
const Version = 1

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

// Command is one entry of the Raft log. Time and IdemExpires are set by the
// leader that proposes it, so that every replica applies the same values.
type Command struct {
	V           uint8       `msgpack:"v"`
	Kind        Kind        `msgpack:"k"`
	Object      string      `msgpack:"o,omitempty"`
	Txn         objects.Txn `msgpack:"t,omitempty"`
	IdemKey     string      `msgpack:"i,omitempty"`
	IdemExpires int64       `msgpack:"x,omitempty"` // leader's unix ns after which the key is forgotten
	Time        int64       `msgpack:"ts"`          // leader's unix ns when proposed
	Member      Member      `msgpack:"m,omitempty"`
	Batch       [][]byte    `msgpack:"b,omitempty"` // KindBatch: commands as Encode wrote them
}

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
// fields in declaration order, for Command and every struct in it. Arrays
// encode in a third of the time maps with omitempty take (no field names,
// no per-call list of non-empty fields) and are a third smaller. Decode
// reads both forms, so entries written as maps by earlier builds still
// apply. An array's length must match the struct's field count: fields are
// append-only, and a new one needs a new Version with a decoder for the
// old length. TestCommandWireFormat pins the layout.
func Encode(c *Command) ([]byte, error) {
	c.V = Version
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode parses a log entry written by Encode (or, as a map, by a build
// before arrays).
func Decode(b []byte) (*Command, error) {
	var c Command
	if err := msgpack.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	if c.V != Version {
		return nil, fmt.Errorf("decode command: unknown version %d", c.V)
	}
	return &c, nil
}
