package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// keyedCall is a keyed call of obj that increments "n" and answers body,
// its request hashed as request.
func keyedCall(t *testing.T, obj, key string, request []byte, body []byte) *Command {
	t.Helper()
	c := classCmd(t, KindCall, obj, &Call{
		Ops:      []objects.Op{{Op: objects.OpIncrement, Key: "n", By: 1}},
		Response: &CallResponse{Status: 200, Header: HeaderFields(http.Header{"X-A": {"1"}}), Body: body},
		Request:  request,
	})
	c.IdemKey, c.IdemExpires = key, 1000
	return c
}

// applyAsV2 applies c encoded as a version 2 build wrote it (the same
// layout, version 2), as a node upgraded one at a time meets such entries.
func (f *feeder) applyAsV2(c *Command) interface{} {
	f.t.Helper()
	c.V = 2
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(c); err != nil {
		f.t.Fatal(err)
	}
	f.index++
	return f.m.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: buf.Bytes()})
}

func counterOf(m *Machine, obj string) int64 {
	var v int64
	m.Read(func(s *objects.Store) { v, _ = s.Counter(obj, "n") })
	return v
}

// TestKeyedCallIsVersion3: a keyed call needs version 3 (it applies
// differently); an unkeyed call and other commands with a body keep
// version 2, which builds before it read.
func TestKeyedCallIsVersion3(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  *Command
		want uint8
	}{
		{"keyed call", keyedCall(t, "o", "k", []byte("h"), nil), 3},
		{"unkeyed call", classCmd(t, KindCall, "o", &Call{Fired: 5}), 2},
		{"class put", classCmd(t, KindClassPut, "", &ClassPut{Name: "C"}), 2},
		{"keyed write", &Command{Kind: KindTxn, Object: "o", Txn: incr("o", "n", 1), IdemKey: "k"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Decode(b)
			if err != nil || c.V != tt.want {
				t.Fatalf("decoded version %d (%v), want %d", c.V, err, tt.want)
			}
		})
	}
}

// TestCallResponseCountsTowardTheBound: a version 3 keyed call's entry
// costs its response (status, headers, body); once the table is full a
// keyed call is refused with ErrIdempotencyFull and applies nothing, a
// retry of a live key still replays, and a version 2 call applies as
// version 2 builds applied it (not refused, its response not counted).
func TestCallResponseCountsTowardTheBound(t *testing.T) {
	const obj = "_do/C/o"
	m := New(Options{})
	m.idem.maxBytes = 64 << 10
	f := &feeder{t: t, m: m}
	body := bytes.Repeat([]byte("x"), 16<<10)

	before := m.idem.bytes
	f.applyRaw(keyedCall(t, obj, "k0", []byte("r0"), body))
	if grew := m.idem.bytes - before; grew < len(body) {
		t.Fatalf("a 16 KiB response grew the table by %d bytes", grew)
	}
	n := 1
	for ; n < 10; n++ {
		res := f.applyRaw(keyedCall(t, obj, fmt.Sprint("k", n), []byte("r"), body)).(*CallResult)
		if errors.Is(res.Err, ErrIdempotencyFull) {
			break
		}
		if res.Err != nil || res.Replayed {
			t.Fatalf("call %d = %+v", n, res)
		}
	}
	if n != 4 {
		t.Fatalf("refused after %d calls of 16 KiB answers, want 4 in a 64 KiB table", n)
	}
	if v := counterOf(m, obj); v != int64(n) {
		t.Fatalf("counter = %d after %d accepted calls: the refused one was applied", v, n)
	}
	if res := f.applyRaw(keyedCall(t, obj, "k0", []byte("r0"), nil)).(*CallResult); !res.Replayed || !bytes.Equal(res.Response.Body, body) {
		t.Fatalf("retry of a live key when full = %+v", res)
	}
	if res, err := m.CheckCall(obj, "new", []byte("r"), 1); res != nil || !errors.Is(err, ErrIdempotencyFull) {
		t.Fatalf("leader's check of a new key when full = %+v %v, want ErrIdempotencyFull", res, err)
	}
	if res, err := m.CheckCall(obj, "k0", []byte("r0"), 1); err != nil || res == nil || !res.Replayed {
		t.Fatalf("leader's check of a live key when full = %+v %v, want its replay", res, err)
	}

	// Version 2: applied though the table is full, and its response does
	// not count, as on the builds that wrote it.
	size := m.idem.bytes
	if res := f.applyAsV2(keyedCall(t, obj, "v2", nil, body)).(*CallResult); res.Err != nil || res.Replayed {
		t.Fatalf("version 2 call = %+v", res)
	}
	if grew := m.idem.bytes - size; grew >= len(body) {
		t.Fatalf("a version 2 call's entry cost %d bytes: its response counted", grew)
	}
}

// TestCallKeyTiedToRequest: a version 3 key reused for another request
// is refused with ErrIdempotencyMismatch (by the leader's check and by
// Apply) and applies nothing; the same request replays. A version 2
// call keeps replaying for any request.
func TestCallKeyTiedToRequest(t *testing.T) {
	const obj = "_do/C/o"
	m := New(Options{})
	f := &feeder{t: t, m: m}
	first := CallRequestHash(obj, http.MethodPost, "http://a/inc?by=1", []byte("x"))
	other := CallRequestHash(obj, http.MethodPost, "http://a/inc?by=2", []byte("x"))
	f.applyRaw(keyedCall(t, obj, "k", first, []byte("1")))

	if res := f.applyRaw(keyedCall(t, obj, "k", other, []byte("2"))).(*CallResult); !errors.Is(res.Err, ErrIdempotencyMismatch) {
		t.Fatalf("another request with the key = %+v, want ErrIdempotencyMismatch", res)
	}
	if _, err := m.CheckCall(obj, "k", other, 1); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("leader's check of another request = %v, want ErrIdempotencyMismatch", err)
	}
	if res := f.applyRaw(keyedCall(t, obj, "k", first, []byte("3"))).(*CallResult); res.Err != nil || !res.Replayed || string(res.Response.Body) != "1" {
		t.Fatalf("same request = %+v, want the first answer replayed", res)
	}
	if v := counterOf(m, obj); v != 1 {
		t.Fatalf("counter = %d, want 1: a refused or replayed call was applied", v)
	}

	f.applyAsV2(keyedCall(t, obj, "old", nil, []byte("1")))
	if res := f.applyAsV2(keyedCall(t, obj, "old", other, []byte("2"))).(*CallResult); res.Err != nil || !res.Replayed {
		t.Fatalf("version 2 retry = %+v, want a replay as version 2 builds gave", res)
	}
}

// TestCallRequestHash: the key's request is the method, the path, the
// query and the body, not the host the client reached.
func TestCallRequestHash(t *testing.T) {
	base := CallRequestHash("_do/C/o", "POST", "http://n1:8080/a/b%20c?x=1", []byte("body"))
	if h := CallRequestHash("_do/C/o", "POST", "http://n2:9090/a/b%20c?x=1", []byte("body")); !bytes.Equal(h, base) {
		t.Fatal("another node's host changed the hash")
	}
	for name, h := range map[string][]byte{
		"object": CallRequestHash("_do/C/p", "POST", "http://n1:8080/a/b%20c?x=1", []byte("body")),
		"method": CallRequestHash("_do/C/o", "PUT", "http://n1:8080/a/b%20c?x=1", []byte("body")),
		"path":   CallRequestHash("_do/C/o", "POST", "http://n1:8080/a/b%2Fc?x=1", []byte("body")),
		"query":  CallRequestHash("_do/C/o", "POST", "http://n1:8080/a/b%20c?x=2", []byte("body")),
		"body":   CallRequestHash("_do/C/o", "POST", "http://n1:8080/a/b%20c?x=1", []byte("bodY")),
		"split":  CallRequestHash("_do/C/o", "POST", "http://n1:8080/a/b%20c?x=1b", []byte("ody")),
	} {
		if bytes.Equal(h, base) {
			t.Errorf("another %s hashes the same", name)
		}
	}
}

// TestRPCRequestHash: an RPC's request is its object, method and
// arguments, and never hashes as a fetch of the same object does.
func TestRPCRequestHash(t *testing.T) {
	base := RPCRequestHash("_do/C/o", "increment", []byte("[2]"))
	if h := RPCRequestHash("_do/C/o", "increment", []byte("[2]")); !bytes.Equal(h, base) {
		t.Fatal("the same RPC hashes differently")
	}
	if a, b := RPCRequestHash("_do/C/o", "get", nil), RPCRequestHash("_do/C/o", "get", []byte("[]")); !bytes.Equal(a, b) {
		t.Fatal("no arguments and [] hash differently")
	}
	for name, h := range map[string][]byte{
		"object":    RPCRequestHash("_do/C/p", "increment", []byte("[2]")),
		"method":    RPCRequestHash("_do/C/o", "decrement", []byte("[2]")),
		"arguments": RPCRequestHash("_do/C/o", "increment", []byte("[3]")),
		"split":     RPCRequestHash("_do/C/o", "incremen", []byte("t[2]")),
		"fetch":     CallRequestHash("_do/C/o", "increment", "", []byte("[2]")),
		"fetch rpc": CallRequestHash("_do/C/o", "POST", "http://n1/rpc/increment", []byte("[2]")),
	} {
		if bytes.Equal(h, base) {
			t.Errorf("another %s hashes the same", name)
		}
	}
}

// TestCallEntriesRoundTripSnapshots: a version 3 call's entry keeps its
// request and its cost through a snapshot: the restored table refuses
// another request with the key, and is as full as the original.
func TestCallEntriesRoundTripSnapshots(t *testing.T) {
	const obj = "_do/C/o"
	m := New(Options{})
	f := &feeder{t: t, m: m}
	first := CallRequestHash(obj, http.MethodPost, "http://a/inc", nil)
	f.applyRaw(keyedCall(t, obj, "k", first, bytes.Repeat([]byte("y"), 4096)))
	f.applyAsV2(keyedCall(t, obj, "old", nil, bytes.Repeat([]byte("z"), 4096)))
	data := snapshotBytes(t, m)
	want, _, _, _ := m.Digest()

	r := New(Options{})
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if r.idem.bytes != m.idem.bytes {
		t.Fatalf("restored table costs %d bytes, the original %d", r.idem.bytes, m.idem.bytes)
	}
	if got, _, _, _ := r.Digest(); got != want {
		t.Fatalf("digest after restore = %s, want %s", got, want)
	}
	if !bytes.Equal(snapshotBytes(t, r), data) {
		t.Fatal("snapshot of the restored machine differs")
	}
	rf := &feeder{t: t, m: r, index: f.index}
	other := CallRequestHash(obj, http.MethodGet, "http://a/inc", nil)
	if res := rf.applyRaw(keyedCall(t, obj, "k", other, nil)).(*CallResult); !errors.Is(res.Err, ErrIdempotencyMismatch) {
		t.Fatalf("another request after restore = %+v, want ErrIdempotencyMismatch", res)
	}
}
