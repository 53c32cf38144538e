package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// testStreams is a follower's streams that dial leaders on loopback TCP.
func testStreams() *streams {
	return &streams{
		from: "f",
		dial: func(ctx context.Context, addr raft.ServerAddress) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", string(addr))
		},
		retireAfter: 3 * time.Second,
	}
}

// fakeLeader accepts forwarding streams of /1, as a build before /2
// does, and hands each to speak; it answers in msgpack maps, which
// decoders read beside the arrays newFrameEncoder writes.
func fakeLeader(t *testing.T, speak func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, conn net.Conn)) raft.ServerAddress {
	return fakeStreamLeader(t, streamProto, msgpack.NewEncoder, speak)
}

// fakeStreamLeader accepts follower f's forwarding streams of proto
// (426 to any other, offering proto) and hands each to speak, with
// frames encoded by newEnc.
func fakeStreamLeader(t *testing.T, proto string, newEnc func(io.Writer) *msgpack.Encoder, speak func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, conn net.Conn)) raft.ServerAddress {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathStream && r.Header.Get("Upgrade") != proto {
			w.Header().Set("Upgrade", proto)
			http.Error(w, "this route speaks only "+proto, http.StatusUpgradeRequired)
			return
		}
		if r.URL.Path != pathStream || r.Header.Get(headerFrom) != "f" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
		rw.Flush()
		bw := bufio.NewWriter(conn)
		speak(msgpack.NewDecoder(rw.Reader), newEnc(bw), bw, conn)
	}))
	t.Cleanup(srv.Close)
	return raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://"))
}

// echoLeader answers every write at once, as applied at the index of its id.
func echoLeader(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ net.Conn) {
	for {
		var req streamRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		enc.Encode(&streamResult{ID: req.ID, R: resultOf(objects.TxnResult{Succeeded: true}, req.ID, nil)})
		bw.Flush()
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) raft.ServerAddress {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return raft.ServerAddress(ln.Addr().String())
}

// A forwarded write must say "not applied" only when the leader cannot
// have seen it, and "outcome unknown" once it may have.
func TestForwardedWriteOutcomes(t *testing.T) {
	ctx := context.Background()
	w := forwardedWrite{Object: "o", Txn: wireTxnOf(increment(1))}

	t.Run("unreachable leader", func(t *testing.T) {
		closed := closedAddr(t)
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if err := f.write(ctx, "l", closed, w).err(); !errors.Is(err, ErrNotApplied) {
			t.Fatalf("unreachable leader: %v, want ErrNotApplied", err)
		}
	})

	t.Run("upgrade refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if err := f.write(ctx, "l", raft.ServerAddress(strings.TrimPrefix(srv.URL, "http://")), w).err(); !errors.Is(err, ErrNotApplied) {
			t.Fatalf("upgrade refused: %v, want ErrNotApplied", err)
		}
	})

	t.Run("cut after sending", func(t *testing.T) {
		addr := fakeLeader(t, func(dec *msgpack.Decoder, _ *msgpack.Encoder, _ *bufio.Writer, conn net.Conn) {
			var req streamRequest
			dec.Decode(&req) // the leader has the write, then the connection breaks
		})
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		if err := f.write(ctx, "l", addr, w).err(); !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("connection cut after sending: %v, want ErrOutcomeUnknown", err)
		}
	})

	t.Run("caller gives up after sending", func(t *testing.T) {
		got := make(chan struct{})
		addr := fakeLeader(t, func(dec *msgpack.Decoder, _ *msgpack.Encoder, _ *bufio.Writer, _ net.Conn) {
			var req streamRequest
			dec.Decode(&req)
			close(got)
			dec.Decode(&req) // never answers; returns when the follower closes
		})
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-got; cancel() }()
		if err := f.write(cctx, "l", addr, w).err(); !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("gave up after sending: %v, want ErrOutcomeUnknown", err)
		}
	})

	t.Run("answers matched by id", func(t *testing.T) {
		// The leader answers in commit order; here, the reverse of the
		// request order. Each outcome keeps its meaning.
		answers := map[string]forwardedResult{
			"ok":       resultOf(objects.TxnResult{Succeeded: true}, 7, nil),
			"conflict": resultOf(objects.TxnResult{}, 0, &objects.ConflictError{Key: "k", Reason: objects.ReasonNotInteger}),
			"moved":    resultOf(objects.TxnResult{}, 0, ErrNotLeader),
			"unknown":  resultOf(objects.TxnResult{}, 0, ErrOutcomeUnknown),
		}
		addr := fakeLeader(t, func(dec *msgpack.Decoder, enc *msgpack.Encoder, bw *bufio.Writer, _ net.Conn) {
			var reqs []streamRequest
			for len(reqs) < len(answers) {
				var req streamRequest
				if err := dec.Decode(&req); err != nil {
					return
				}
				reqs = append(reqs, req)
			}
			for i := len(reqs) - 1; i >= 0; i-- {
				enc.Encode(&streamResult{ID: reqs[i].ID, R: answers[reqs[i].W.Object]})
			}
			bw.Flush()
			var req streamRequest
			dec.Decode(&req)
		})
		f := testStreams()
		defer f.closeAll(errShuttingDown)
		want := map[string]error{"conflict": objects.ErrConflict, "moved": ErrNotApplied, "unknown": ErrOutcomeUnknown}
		errs := make(chan error, len(answers))
		for name := range answers {
			go func() {
				r := f.write(ctx, "l", addr, forwardedWrite{Object: name, Txn: wireTxnOf(increment(1))})
				switch {
				case name == "ok" && (r.err() != nil || r.Index != 7 || !r.Result.Succeeded):
					errs <- errors.New("ok: got " + r.Msg)
				case name != "ok" && !errors.Is(r.err(), want[name]):
					errs <- errors.New(name + ": got " + r.err().Error())
				default:
					errs <- nil
				}
			}()
		}
		for range answers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// Cutting the stream (fault injection) fails what it carries and the next
// write opens a new one.
func TestForwardStreamCutAndReopen(t *testing.T) {
	addr := fakeLeader(t, echoLeader)
	f := testStreams()
	defer f.closeAll(errShuttingDown)
	ctx := context.Background()
	w := forwardedWrite{Object: "o", Txn: wireTxnOf(increment(1))}
	if r := f.write(ctx, "l", addr, w); r.err() != nil || r.Index != 1 {
		t.Fatalf("first write: %+v", r)
	}
	first := f.current(addr)
	f.cut(map[string]bool{"l": true})
	if f.current(addr) != nil {
		t.Fatal("the cut stream is still current")
	}
	if r := f.write(ctx, "l", addr, w); r.err() != nil || r.Index != 1 {
		t.Fatalf("write on a new stream: %+v (ids start again at 1)", r)
	}
	if s := f.current(addr); s == nil || s == first {
		t.Fatal("no new stream after the cut")
	}
}

// A new leader gets a new stream; the one to the former leader closes once
// it owes no answer.
func TestForwardStreamLeaderChange(t *testing.T) {
	a, b := fakeLeader(t, echoLeader), fakeLeader(t, echoLeader)
	f := testStreams()
	defer f.closeAll(errShuttingDown)
	ctx := context.Background()
	w := forwardedWrite{Object: "o", Txn: wireTxnOf(increment(1))}
	if r := f.write(ctx, "a", a, w); r.err() != nil {
		t.Fatalf("write to a: %+v", r)
	}
	old := f.current(a)
	if r := f.write(ctx, "b", b, w); r.err() != nil {
		t.Fatalf("write to b: %+v", r)
	}
	if !old.broken() || f.current(a) != nil {
		t.Fatal("the stream to the former leader is still in use")
	}
	if n := len(f.all()); n != 1 {
		t.Fatalf("%d streams open, want only the one to b", n)
	}
}

// A frame may not read past its limit; the next frame starts afresh.
func TestFrameReaderLimit(t *testing.T) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	small := streamRequest{ID: 1, W: forwardedWrite{Object: "o", Txn: wireTxnOf(increment(1))}}
	big := streamRequest{ID: 2, W: forwardedWrite{Object: strings.Repeat("x", 4096), Txn: wireTxnOf(increment(1))}}
	for _, r := range []streamRequest{small, big, small} {
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	frames := &frameReader{r: bufio.NewReader(&buf)}
	dec := msgpack.NewDecoder(frames)
	frames.left = 1024
	var got streamRequest
	if err := dec.Decode(&got); err != nil || got.ID != 1 {
		t.Fatalf("small frame: %+v, %v", got, err)
	}
	frames.left = 1024
	if err := dec.Decode(&got); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("4 KiB frame under a 1 KiB limit: %v, want errFrameTooLarge", err)
	}
}

// A frame whose array header declares far more ops than it holds fails
// without the leader allocating for them: msgpack would size the slice by
// the header before reading an element.
func TestStreamRequestDeclaredLength(t *testing.T) {
	w := forwardedWrite{Object: "o", Txn: wireTxnOf(increment(1))}
	tests := []struct {
		proto string
		req   any
	}{
		{streamProto, &streamRequest{ID: 1, W: w}},
		{streamProtoV2, &streamRequestV2{ID: 1, W: &w}},
	}
	for _, tt := range tests {
		t.Run(tt.proto, func(t *testing.T) {
			var buf bytes.Buffer
			if err := newFrameEncoder(&buf).Encode(tt.req); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			// The ops' array header (one op): declare 1<<20 instead.
			i := bytes.IndexByte(b, 0x91)
			if i < 0 {
				t.Fatalf("no one-element array in %x", b)
			}
			bad := append(append(append([]byte{}, b[:i]...), 0xdd, 0x00, 0x10, 0x00, 0x00), b[i+1:]...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			frames := &frameReader{r: bufio.NewReader(bytes.NewReader(bad)), left: maxFrameBytes}
			_, err := readStreamRequest(msgpack.NewDecoder(frames), tt.proto)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("a frame declaring a million ops and holding one decoded")
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Fatalf("reading a %d-byte frame allocated %d MiB", len(bad), grew>>20)
			}
		})
	}
}
