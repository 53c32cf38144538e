package cluster

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

func testForwarder() *forwarder {
	return newForwarder(&Node{cfg: Config{ApplyTimeout: 2 * time.Second}})
}

// A forwarded batch must say "not applied" only when the leader cannot
// have seen it, and "outcome unknown" once it may have.
func TestForwardedBatchOutcomes(t *testing.T) {
	batch := []forwardedWrite{{Object: "o", Txn: increment(1)}}

	// Nobody listens: the request never left.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := testForwarder().post(closed, batch); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("unreachable leader: %v, want ErrNotApplied", err)
	}

	// The leader took the request and the connection broke: unknown.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer cut.Close()
	if _, err := testForwarder().post(strings.TrimPrefix(cut.URL, "http://"), batch); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("connection cut after sending: %v, want ErrOutcomeUnknown", err)
	}

	// The leader answers per write; each outcome keeps its meaning.
	answers := []forwardedResult{
		resultOf(objects.TxnResult{Succeeded: true}, 7, nil),
		resultOf(objects.TxnResult{}, 0, &objects.ConflictError{Key: "k", Reason: objects.ReasonNotInteger}),
		resultOf(objects.TxnResult{}, 0, ErrNotLeader),
		resultOf(objects.TxnResult{}, 0, ErrOutcomeUnknown),
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := msgpack.Marshal(answers)
		w.Write(b)
	}))
	defer ok.Close()
	four := append(batch, batch[0], batch[0], batch[0])
	got, err := testForwarder().post(strings.TrimPrefix(ok.URL, "http://"), four)
	if err != nil || len(got) != 4 {
		t.Fatalf("post = %v, %v", got, err)
	}
	if got[0].err() != nil || got[0].Index != 7 || !got[0].Result.Succeeded {
		t.Fatalf("ok result = %+v", got[0])
	}
	for i, want := range []error{objects.ErrConflict, ErrNotApplied, ErrOutcomeUnknown} {
		if err := got[i+1].err(); !errors.Is(err, want) {
			t.Fatalf("result %d: %v, want %v", i+1, err, want)
		}
	}
}
