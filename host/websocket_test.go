package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestServerSocketWritesInOrderThenCloses: what was queued before Close
// reaches the client, in order, then the close with its code; what is
// sent after Close is dropped.
func TestServerSocketWritesInOrderThenCloses(t *testing.T) {
	sock := newServerSocket()
	sock.Send(false, []byte("a"))
	sock.Send(true, []byte("b"))
	sock.Close(4001, "done")
	sock.Send(false, []byte("late"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		sock.write(c)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	want := []struct {
		typ  websocket.MessageType
		data string
	}{{websocket.MessageText, "a"}, {websocket.MessageBinary, "b"}}
	for _, w := range want {
		typ, data, err := c.Read(ctx)
		if err != nil || typ != w.typ || string(data) != w.data {
			t.Fatalf("read %v %q %v, want %v %q", typ, data, err, w.typ, w.data)
		}
	}
	_, _, err = c.Read(ctx)
	if code := websocket.CloseStatus(err); code != 4001 {
		t.Fatalf("after the messages: %v (code %d), want a close with 4001", err, code)
	}
}

// TestServerSocketBoundsItsQueue: a client that lets too much pile up is
// closed with 1008, in messages or in bytes.
func TestServerSocketBoundsItsQueue(t *testing.T) {
	tests := []struct {
		name string
		fill func(*serverSocket)
	}{
		{"bytes", func(s *serverSocket) { s.Send(false, make([]byte, socketQueueBytes+1)) }},
		{"messages", func(s *serverSocket) {
			for range socketQueue + 1 {
				s.Send(false, []byte("x"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServerSocket()
			tt.fill(s)
			select {
			case <-s.done:
			default:
				t.Fatal("not closed")
			}
			if s.code != closePolicy {
				t.Fatalf("closed with %d, want %d", s.code, closePolicy)
			}
			if q := s.queued; q > socketQueueBytes {
				t.Fatalf("%d bytes queued", q)
			}
		})
	}
}
