package host

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The node carries the host's calls on its forwarding stream as they are
// (cluster/wire.go): the golden frames of /2 under the repository's
// testdata/frames hold a forwardedCall or forwardedCallResult in their
// field c. These are the frames as /2 wrote them; every later build must
// read and write them the same.

// callFrame and answerFrame are the stream's /2 frames seen from here:
// the request's write (w) and the answer's result (r) are the node's.
type callFrame struct {
	ID uint64              `msgpack:"id"`
	W  *msgpack.RawMessage `msgpack:"w"`
	C  *forwardedCall      `msgpack:"c"`
}

// rpcFrame and namedFrame are call frames whose call is an RPC's or a
// named call's (rpc.go).
type rpcFrame struct {
	ID uint64              `msgpack:"id"`
	W  *msgpack.RawMessage `msgpack:"w"`
	C  *forwardedRPC       `msgpack:"c"`
}

type namedFrame struct {
	ID uint64              `msgpack:"id"`
	W  *msgpack.RawMessage `msgpack:"w"`
	C  *namedCall          `msgpack:"c"`
}

type answerFrame struct {
	ID uint64               `msgpack:"id"`
	R  *msgpack.RawMessage  `msgpack:"r"`
	C  *forwardedCallResult `msgpack:"c"`
}

func TestGoldenCallFrames(t *testing.T) {
	frames := map[string]any{
		"v2-stream-request-call": &callFrame{ID: 8, C: &forwardedCall{Class: "Counter", Name: "c1", Method: "POST",
			URL: "http://dobj/do/Counter/c1/increment?by=2", Header: []wireHeader{{Name: "Content-Type", Value: "text/plain"}},
			Body: []byte("2"), IdemKey: "k-2"}},
		"v2-stream-result-call": &answerFrame{ID: 8, C: &forwardedCallResult{Code: objects.CodeOK, Status: 201,
			Header: []wireHeader{{Name: "X-Version", Value: "1"}}, Body: []byte("3"), Index: 44, Replayed: true}},
		"v2-stream-result-call-failed": &answerFrame{ID: 9, C: &forwardedCallResult{Code: callFailed, Msg: "Error: thrown after a write"}},
		"v2-stream-request-rpc": &rpcFrame{ID: 10, C: &forwardedRPC{Class: "app:Counter", Name: goldenID,
			Method: "increment", Body: []byte("[2]"), RPC: true}},
		"v2-stream-request-rpc-named": &namedFrame{ID: 11, C: &namedCall{Class: "app:Counter", Name: goldenID,
			Method: "increment", Body: []byte("[2]"), RPC: true, IDName: "card-1"}},
		"v2-stream-request-call-named": &namedFrame{ID: 12, C: &namedCall{Class: "app:Counter", Name: goldenID,
			Method: "GET", URL: "http://do/x", Header: []wireHeader{{Name: "Accept", Value: "text/plain"}}, IDName: "card-1"}},
	}
	for name, v := range frames {
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("..", "testdata", "frames", name+".msgpack"))
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
			b, err := encodeFrame(v)
			if err != nil || !bytes.Equal(b, golden) {
				t.Fatalf("this build writes %s as %x (%v), the golden file holds %x: a new layout needs a new protocol version", name, b, err, golden)
			}
		})
	}
	// Answers keep their meaning across the wire.
	var a answerFrame
	if err := msgpack.Unmarshal(mustRead(t, "v2-stream-result-call"), &a); err != nil {
		t.Fatal(err)
	}
	if res, err := a.C.outcome(); err != nil || res.Response.Status != 201 || res.Response.Header.Get("X-Version") != "1" || string(res.Response.Body) != "3" {
		t.Fatalf("call result frame decodes to %+v, %v", res, err)
	}
	a = answerFrame{}
	if err := msgpack.Unmarshal(mustRead(t, "v2-stream-result-call-failed"), &a); err != nil {
		t.Fatal(err)
	}
	var callErr *CallError
	if _, err := a.C.outcome(); !errors.As(err, &callErr) || callErr.Message != "Error: thrown after a write" {
		t.Fatalf("failed call frame decodes to %v", err)
	}
}

// A call posted to a leader that speaks only stream /1, and its answer,
// travel as msgpack maps (msgpack.Marshal), not as frames.
func TestGoldenCallBodies(t *testing.T) {
	bodies := map[string]any{
		"v1-call-post": &forwardedCall{Class: "Counter", Name: "c1", Method: "POST", URL: "http://dobj/increment",
			Header: []wireHeader{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("2"), IdemKey: "k-2"},
		"v1-call-post-result": &forwardedCallResult{Code: objects.CodeOK, Status: 201,
			Header: []wireHeader{{Name: "X-Version", Value: "1"}}, Body: []byte("3"), Index: 44},
	}
	for name, v := range bodies {
		t.Run(name, func(t *testing.T) {
			golden := mustRead(t, name)
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := msgpack.Unmarshal(golden, got); err != nil {
				t.Fatalf("a build can no longer read %s: %v", name, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("decoded %s as %+v, want %+v", name, got, v)
			}
			if b, err := msgpack.Marshal(v); err != nil || !bytes.Equal(b, golden) {
				t.Fatalf("this build writes %s as %x (%v), the golden file holds %x", name, b, err, golden)
			}
		})
	}
}

// goldenID is the id of app's Counter card-1.
const goldenID = "72d5fe266f449a6f0449f3727c9b189297e1754742b4f5033b4a055664c5400d"

func mustRead(t *testing.T, frame string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "frames", frame+".msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
