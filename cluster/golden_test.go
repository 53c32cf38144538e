package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The golden frames under the repository's testdata/frames are the peer
// service's messages as each protocol version wrote them. Written once
// with -update when a version is new; every later build must read them
// the same, or a cluster upgraded one node at a time would misread its
// peers.
var update = flag.Bool("update", false, "write the golden frames of the current protocol (only when adding a version)")

const framesDir = "../testdata/frames"

// goldenFrames are the frames, by file name, with the Go value each
// decodes into.
func goldenFrames() map[string]any {
	yes := true
	return map[string]any{
		"v1-stream-request": &streamRequest{ID: 7, W: forwardedWrite{Object: "card-1", IdemKey: "k-1",
			Txn: wireTxn{Success: []wireOp{{Op: objects.OpIncrement, Key: "value", By: 1}}}}},
		"v1-stream-result-ok": &streamResult{ID: 7, R: forwardedResult{Index: 42,
			Result: wireTxnResult{Succeeded: true, Results: []wireResult{{Op: objects.OpGet, Key: "k", Found: &yes, Value: json.RawMessage(`6`)}}}}},
		"v1-stream-result-conflict": &streamResult{ID: 8, R: resultOf(objects.TxnResult{}, 43, &objects.ConflictError{Key: "value", Reason: "not an integer"})},
		"v1-stream-result-unknown":  &streamResult{ID: 9, R: forwardedResult{Code: codeUnknown, Msg: "outcome unknown: at the leader"}},
		"v1-join":                   &joinRequest{ID: "n4", RaftAddr: "127.0.0.1:9084", HTTPAddr: "127.0.0.1:8084"},
		"v1-remove":                 &removeRequest{ID: "n4"},

		// /2: writes and class calls on the stream.
		"v2-stream-request-write": &streamRequestV2{ID: 7, W: &forwardedWrite{Object: "card-1", IdemKey: "k-1",
			Txn: wireTxn{Success: []wireOp{{Op: objects.OpIncrement, Key: "value", By: 1}}}}},
		"v2-stream-result-write": &streamResultV2{ID: 7, R: &forwardedResult{Index: 42,
			Result: wireTxnResult{Succeeded: true, Results: []wireResult{{Op: objects.OpGet, Key: "k", Found: &yes, Value: json.RawMessage(`6`)}}}}},
	}
}

func TestGoldenFrames(t *testing.T) {
	frames := goldenFrames()
	for name, v := range frames {
		var buf bytes.Buffer
		if err := newFrameEncoder(&buf).Encode(v); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(framesDir, name+".msgpack")
		if *update {
			if err := os.MkdirAll(framesDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := msgpack.Unmarshal(golden, got); err != nil {
				t.Fatalf("a build can no longer read %s: %v", name, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("decoded %s as %+v, want %+v", name, got, v)
			}
			if !bytes.Equal(buf.Bytes(), golden) {
				t.Fatalf("this build writes %s as %x, the golden file holds %x: a new layout needs a new protocol version", name, buf.Bytes(), golden)
			}
		})
	}
	// Answers keep their meaning across the wire.
	var r streamResult
	msgpack.Unmarshal(mustRead(t, filepath.Join(framesDir, "v1-stream-result-conflict.msgpack")), &r)
	var ce *objects.ConflictError
	if err := r.R.err(); !errors.As(err, &ce) || ce.Key != "value" {
		t.Fatalf("conflict frame decodes to %v", err)
	}
	msgpack.Unmarshal(mustRead(t, filepath.Join(framesDir, "v1-stream-result-unknown.msgpack")), &r)
	if err := r.R.err(); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("unknown-outcome frame decodes to %v", err)
	}
	// The node carries a call and its answer as they are (the host's
	// golden test reads what they hold): each call frame reads with its
	// call or answer raw, and is written back byte for byte.
	for name, v := range map[string]any{"v2-stream-request-call": &streamRequestV2{}, "v2-stream-result-call": &streamResultV2{},
		"v2-stream-result-call-failed": &streamResultV2{}} {
		golden := mustRead(t, filepath.Join(framesDir, name+".msgpack"))
		if err := msgpack.Unmarshal(golden, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf bytes.Buffer
		if err := newFrameEncoder(&buf).Encode(v); err != nil || !bytes.Equal(buf.Bytes(), golden) {
			t.Fatalf("%s carried as %x, %v; the golden file holds %x", name, buf.Bytes(), err, golden)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenBodies are the one-shot routes' bodies (requests and answers),
// which travel as msgpack maps (msgpack.Marshal), not as frames, by file
// name, with the Go value each decodes into. The host's own (a call
// posted to a /1 leader) are tested in package host.
func goldenBodies() map[string]any {
	return map[string]any{
		"v1-class-request":      &classRequest{Name: "Counter", Lang: "js", Source: []byte("export class Counter {}")},
		"v1-class-delete":       &classRequest{Name: "Counter", Delete: true},
		"v1-class-reply-deploy": ptr(classReplyOf(17, false, nil)),
		"v1-class-reply-delete": ptr(classReplyOf(0, true, nil)),
		"v1-class-reply-failed": ptr(classReplyOf(0, false, fmt.Errorf("%w: does not compile", objects.ErrInvalid))),
	}
}

func ptr[T any](v T) *T { return &v }

func TestGoldenBodies(t *testing.T) {
	for name, v := range goldenBodies() {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(framesDir, name+".msgpack")
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(name, func(t *testing.T) {
			golden := mustRead(t, path)
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := msgpack.Unmarshal(golden, got); err != nil {
				t.Fatalf("a build can no longer read %s: %v", name, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("decoded %s as %+v, want %+v", name, got, v)
			}
			if !bytes.Equal(b, golden) {
				t.Fatalf("this build writes %s as %x, the golden file holds %x: a new layout breaks a mixed-version cluster", name, b, golden)
			}
		})
	}
	// A class reply keeps its meaning across the wire.
	var r classReply
	msgpack.Unmarshal(mustRead(t, filepath.Join(framesDir, "v1-class-reply-failed.msgpack")), &r)
	if err := r.err(); !errors.Is(err, objects.ErrInvalid) {
		t.Fatalf("failed class reply decodes to %v", err)
	}
	msgpack.Unmarshal(mustRead(t, filepath.Join(framesDir, "v1-class-reply-deploy.msgpack")), &r)
	if r.err() != nil || r.Version != 17 {
		t.Fatalf("deploy reply decodes to %+v", r)
	}
}
