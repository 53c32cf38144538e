package check

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/dobj/dobj/client"
)

// TestRefusedResendIsUnknown shows why classify treats a refused
// connection as unknown for an increment with an Idempotency-Key: net/http
// re-sends such a POST by itself when a kept-alive connection breaks
// before the answer, so the refusal the client sees can be the re-send's,
// after the first send reached a node that applied it and died.
func TestRefusedResendIsUnknown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 2)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; i < 2; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			received <- req.Header.Get("Idempotency-Key")
			if i == 0 {
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"value\":1}"))
			}
		}
		ln.Close() // the node dies with the second request read, unanswered
	}()
	cl := client.New("http://" + ln.Addr().String())
	defer cl.CloseIdleConnections()
	ctx := context.Background()
	if _, err := cl.Increment(ctx, "o", 1, client.WriteOptions{IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Increment(ctx, "o", 1, client.WriteOptions{IdempotencyKey: "k2"})
	if got := []string{<-received, <-received}; got[1] != "k2" {
		t.Fatalf("server received %q", got)
	}
	if err == nil {
		t.Fatal("no error from a node that died before answering")
	}
	if o := classify(err, true); o != Unknown {
		t.Errorf("classify(%v) = %s: the increment reached the node, so its outcome is unknown", err, o)
	}
}
