package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/watch"
)

// TestStreamsTakeNoRequestSlots: watches hold a request slot only until
// they answer, so that more of them than MaxInFlight leave reads and
// writes served; each token holds at most MaxStreamsPerToken of them.
func TestStreamsTakeNoRequestSlots(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r1\nread r2\nwrite w\n"))
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.NewHub(watch.Options{})
	s := newFakeServer(Config{Auth: toks, Watches: hub, MaxInFlight: 2, MaxStreamsPerToken: 3}, newFakeNode())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	for i := 0; i < 3; i++ {
		_, events := stream(t, ts.URL+"/o/watch", "Authorization", "Bearer r1")
		expectEvent(t, events, `ready 0 {"index":0,"oldest":0}`)
	}
	if r := call(t, ts.URL, "POST", "/o/increment", "", "Authorization", "Bearer w"); r.status != 200 {
		t.Fatalf("a write with more watches open than request slots: %d %s", r.status, r.body)
	}
	if r := call(t, ts.URL, "GET", "/o/watch", "", "Authorization", "Bearer r1"); r.status != http.StatusTooManyRequests {
		t.Fatalf("a watch past the token's cap: %d %s", r.status, r.body)
	}
	resp, events := stream(t, ts.URL+"/o/watch", "Authorization", "Bearer r2")
	expectEvent(t, events, `ready 0 {"index":0,"oldest":0}`)
	resp.Body.Close()
	pollUntil(t, 5e9, "the closed watch to be released", func() bool { return s.streams.count() == 3 })
	if r := call(t, ts.URL, "GET", "/o", "", "Authorization", "Bearer r2"); r.status != 200 {
		t.Fatalf("a read with watches open: %d %s", r.status, r.body)
	}
}

// fakeSocketNode accepts every upgrade and echoes the socket's messages
// in the background, as the cluster serves a class object's socket.
type fakeSocketNode struct {
	*fakeClassNode
}

func (f fakeSocketNode) ServeWebSocket(w http.ResponseWriter, r *http.Request, class string, id classes.StubID, req *classes.Request) (*host.CallResult, error) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil, nil
	}
	go func() {
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if c.Write(context.Background(), typ, b) != nil {
				return
			}
		}
	}()
	return nil, nil
}

// dialSocket opens a WebSocket to a class object with token.
func dialSocket(t *testing.T, base, token string) (*websocket.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/do/Chat/room",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, err
}

// TestSocketsCountedPerToken: a WebSocket holds no request slot once it
// is open, stays counted against its token until it closes, and past the
// token's cap an upgrade is refused.
func TestSocketsCountedPerToken(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("write w1\nwrite w2\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := fakeSocketNode{newFakeClassNode()}
	s := newFakeServer(Config{Auth: toks, MaxInFlight: 1, MaxStreamsPerToken: 2}, node)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	var open []*websocket.Conn
	for i := 0; i < 2; i++ {
		c, err := dialSocket(t, ts.URL, "w1")
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		open = append(open, c)
	}
	if _, err := dialSocket(t, ts.URL, "w1"); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a socket past the token's cap: %v, want 429", err)
	}
	if r := call(t, ts.URL, "GET", "/o", "", "Authorization", "Bearer w2"); r.status != 200 {
		t.Fatalf("a read with sockets open: %d %s", r.status, r.body)
	}
	open[0].Close(websocket.StatusNormalClosure, "")
	pollUntil(t, 5*time.Second, "the closed socket to be released", func() bool { return s.streams.count() == 1 })
	if _, err := dialSocket(t, ts.URL, "w1"); err != nil {
		t.Fatalf("a socket after one closed: %v", err)
	}
}

// TestReauthorizeEndsRevokedStreams: after the auth file is reloaded,
// the watches and WebSockets of a token it no longer holds, or no longer
// with the role they need, end; the others stay open.
func TestReauthorizeEndsRevokedStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeTokens := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeTokens("read gone\nwrite demoted\nwrite kept\n")
	toks, err := auth.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.NewHub(watch.Options{})
	s := newFakeServer(Config{Auth: toks, Watches: hub}, fakeSocketNode{newFakeClassNode()})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })

	_, gone := stream(t, ts.URL+"/o/watch", "Authorization", "Bearer gone")
	expectEvent(t, gone, `ready 0 {"index":0,"oldest":0}`)
	_, kept := stream(t, ts.URL+"/o/watch", "Authorization", "Bearer kept")
	expectEvent(t, kept, `ready 0 {"index":0,"oldest":0}`)
	demotedSocket, err := dialSocket(t, ts.URL, "demoted")
	if err != nil {
		t.Fatal(err)
	}
	keptSocket, err := dialSocket(t, ts.URL, "kept")
	if err != nil {
		t.Fatal(err)
	}

	writeTokens("read demoted\nwrite kept\n")
	if err := toks.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := s.Reauthorize(); n != 2 {
		t.Fatalf("Reauthorize ended %d streams, want 2", n)
	}
	select {
	case ev, ok := <-gone:
		if ok {
			t.Fatalf("the removed token's watch got %s, want its end", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the removed token's watch is still open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := demotedSocket.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("the demoted token's socket: read %v, want it closed", err)
	}
	if err := keptSocket.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := keptSocket.Read(ctx); err != nil || string(b) != "hi" {
		t.Fatalf("the kept socket: %q %v", b, err)
	}
	if s.streams.count() != 2 {
		t.Fatalf("%d streams counted, want the 2 kept", s.streams.count())
	}
	select {
	case ev := <-kept:
		t.Fatalf("the kept watch got %s", ev)
	default:
	}
}
