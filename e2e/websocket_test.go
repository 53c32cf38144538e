package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// WebSockets in object classes (issue 16): examples/chat.js on three
// `dobj serve` processes, clients on every node.

// chatEntry is a message of the room as chat.js broadcasts it.
type chatEntry struct {
	Seq    int    `json:"seq"`
	User   string `json:"user"`
	Text   string `json:"text"`
	Joined string `json:"joined"`
}

// chatClient is one socket in the room; a goroutine reads it into got
// until it ends, then sends the close status on closed.
type chatClient struct {
	node   *node
	conn   *websocket.Conn
	got    chan chatEntry
	closed chan websocket.StatusCode
}

func dialChat(t *testing.T, ctx context.Context, nd *node, room, user string) (*chatClient, error) {
	t.Helper()
	u := "ws://" + nd.httpAddr + "/do/ChatRoom/" + room + "/websocket?user=" + user
	conn, resp, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, fmt.Errorf("dial %s: %d %w", u, status, err)
	}
	cl := &chatClient{node: nd, conn: conn, got: make(chan chatEntry, 256), closed: make(chan websocket.StatusCode, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				cl.closed <- websocket.CloseStatus(err)
				close(cl.got)
				return
			}
			var e chatEntry
			if err := json.Unmarshal(data, &e); err != nil {
				t.Errorf("%s: bad message %q", user, data)
				continue
			}
			cl.got <- e
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return cl, nil
}

// next returns the client's next message.
func (cl *chatClient) next(within time.Duration) (chatEntry, error) {
	select {
	case e, ok := <-cl.got:
		if !ok {
			return chatEntry{}, errors.New("the socket closed")
		}
		return e, nil
	case <-time.After(within):
		return chatEntry{}, fmt.Errorf("no message within %s", within)
	}
}

func TestChatWebSocketsAcrossNodes(t *testing.T) {
	source, err := os.ReadFile(filepath.Join("..", "examples", "chat.js"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 3)
	c.start()
	c.deploy(c.nodes[0].url(), "ChatRoom", "js", source)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// 50 clients join through the three nodes; each is welcomed.
	const clients = 50
	cls := make([]*chatClient, clients)
	var wg sync.WaitGroup
	for i := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("u%d", i)
			// Polled by hand: eventually may not fail the test off its goroutine.
			var cl *chatClient
			var err error
			for deadline := time.Now().Add(20 * time.Second); ; {
				if cl, err = dialChat(t, ctx, c.nodes[i%3], "lobby", user); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("join as %s: %v", user, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			e, err := cl.next(20 * time.Second)
			if err != nil || e.Joined != user {
				t.Errorf("%s: welcome %+v, %v", user, e, err)
			}
			cls[i] = cl
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// An upgrade that fetch answers without a WebSocket, or one to a
	// class that does not exist, is an HTTP answer, through a follower
	// too.
	follower := c.others(c.leader())[0]
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/do/ChatRoom/lobby/nope", http.StatusNotFound},
		{"/do/NoSuchClass/lobby/websocket", http.StatusNotFound},
	} {
		conn, resp, err := websocket.Dial(ctx, "ws://"+follower.httpAddr+tc.path, nil)
		if err == nil {
			conn.CloseNow()
			t.Fatalf("%s: upgraded, want %d", tc.path, tc.want)
		}
		if resp == nil || resp.StatusCode != tc.want {
			t.Fatalf("%s through %s: %v %v, want %d", tc.path, follower.id, resp, err, tc.want)
		}
	}

	start := time.Now()
	// Each sends one message; every client receives all 50 exactly
	// once, in the same order, numbered 1..50.
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.conn.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("hello from %d", i))); err != nil {
				t.Errorf("client %d: write: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// A last message, sent once all 50 arrived at client 0, must be the
	// 51st every client sees: nothing was repeated before it.
	order := make([][]string, clients)
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(order[i]) < clients {
				e, err := cl.next(20 * time.Second)
				if err != nil {
					t.Errorf("client %d after %d messages: %v", i, len(order[i]), err)
					return
				}
				if e.Seq != len(order[i])+1 {
					t.Errorf("client %d: message %d has seq %d", i, len(order[i])+1, e.Seq)
				}
				order[i] = append(order[i], e.Text)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d messages to %d clients on 3 nodes: %s", clients, clients, time.Since(start))
	if err := cls[0].conn.Write(ctx, websocket.MessageText, []byte("the end")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, text := range order[0] {
		if seen[text] {
			t.Errorf("%q delivered twice", text)
		}
		seen[text] = true
	}
	for i := range clients {
		if !seen[fmt.Sprintf("hello from %d", i)] {
			t.Errorf("client %d's message never arrived", i)
		}
	}
	for i, cl := range cls {
		if strings.Join(order[i], "|") != strings.Join(order[0], "|") {
			t.Errorf("client %d saw another order than client 0", i)
		}
		if e, err := cl.next(20 * time.Second); err != nil || e.Seq != clients+1 || e.Text != "the end" {
			t.Errorf("client %d: message 51 is %+v, %v", i, e, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The gauge counts the sockets each node holds for its clients.
	for _, nd := range c.nodes {
		if v := metricValue(c.scrape(nd), "dobj_websockets_open"); v < clients/3 {
			t.Errorf("%s: dobj_websockets_open = %v, want at least %d", nd.id, v, clients/3)
		}
	}

	// A leader SIGKILL closes the sockets of the surviving nodes with
	// 1012 (service restart); a client reconnects through a follower and
	// the room goes on where it was.
	leader := c.leader()
	c.kill(leader)
	for i, cl := range cls {
		select {
		case code := <-cl.closed:
			if cl.node != leader && code != websocket.StatusServiceRestart {
				t.Errorf("client %d (on %s): closed with %d, want 1012", i, cl.node.id, code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("client %d (on %s) still open 20s after the leader was killed", i, cl.node.id)
		}
	}
	var again *chatClient
	survivor := c.others(leader)[0]
	eventually(t, 30*time.Second, "rejoin through "+survivor.id, func() (err error) {
		again, err = dialChat(t, ctx, survivor, "lobby", "back")
		return err
	})
	if e, err := again.next(20 * time.Second); err != nil || e.Joined != "back" || e.Seq != clients+1 {
		t.Fatalf("rejoin welcome %+v, %v; want seq %d", e, err, clients+1)
	}
	if err := again.conn.Write(ctx, websocket.MessageText, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if e, err := again.next(20 * time.Second); err != nil || e.Seq != clients+2 || e.Text != "after" {
		t.Fatalf("after the failover got %+v, %v", e, err)
	}
	// A node that stops (SIGTERM) closes its clients' sockets with 1012 too.
	c.stop(survivor)
	select {
	case code := <-again.closed:
		if code != websocket.StatusServiceRestart {
			t.Errorf("closed with %d when %s stopped, want 1012", code, survivor.id)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still open 20s after %s stopped", survivor.id)
	}
}

// TestChatSocketsCloseOnLeaderChange: a leader that is paused (SIGSTOP)
// loses its office without dying. The followers' relays see another
// leader and close their clients' sockets with 1012; once resumed, the old
// leader steps down and closes its own clients' sockets with 1012 too.
func TestChatSocketsCloseOnLeaderChange(t *testing.T) {
	source, err := os.ReadFile(filepath.Join("..", "examples", "chat.js"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 3)
	c.start()
	c.deploy(c.nodes[0].url(), "ChatRoom", "js", source)
	old := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cls []*chatClient
	for i := range 6 {
		cl, err := dialChat(t, ctx, c.nodes[i%3], "room", fmt.Sprintf("u%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if e, err := cl.next(20 * time.Second); err != nil || e.Joined == "" {
			t.Fatalf("welcome %+v, %v", e, err)
		}
		cls = append(cls, cl)
	}
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Resume() }) // before the cluster's stop, which runs later
	wait := func(cl *chatClient) {
		t.Helper()
		select {
		case code := <-cl.closed:
			if code != websocket.StatusServiceRestart {
				t.Errorf("a client on %s closed with %d, want 1012", cl.node.id, code)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("a client on %s still open 30s after %s was paused", cl.node.id, old.id)
		}
	}
	for _, cl := range cls {
		if cl.node != old {
			wait(cl)
		}
	}
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	for _, cl := range cls {
		if cl.node == old {
			wait(cl)
		}
	}
	eventually(t, 10*time.Second, old.id+" logs closing its sockets on stepping down", func() error {
		if old.CountLogLines("closed the sockets of class objects after losing leadership") == 0 {
			return errors.New("not logged")
		}
		return nil
	})
}
