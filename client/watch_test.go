package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/dobj/dobj/api"
	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/cluster"
	"github.com/dobj/dobj/host"
	"github.com/dobj/dobj/watch"
)

// watched starts a one-node cluster whose api serves watches from a hub
// keeping history changes, and returns a client for it.
func watched(t *testing.T, history int) *client.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.NewHub(watch.Options{MaxEvents: history})
	node, err := cluster.Open(context.Background(), cluster.Config{
		ID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", HTTPAddr: ln.Addr().String(),
		Peers:            []cluster.Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}},
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		Observer: hub,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := host.New(node, host.Config{})
	a := api.New(api.Config{NodeID: "n1", Watches: hub}, node, h)
	srv := &http.Server{Handler: a.Handler()}
	srv.RegisterOnShutdown(hub.Close)
	go srv.Serve(ln)
	t.Cleanup(func() { hub.Close(); srv.Close(); a.Close(); h.Close(); node.Close() })
	c := client.New(ln.Addr().String())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, _ := c.Ready(context.Background()); ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("node not ready")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// follow watches name from since until it has seen n events.
func follow(t *testing.T, c *client.Client, name string, o client.WatchOptions, n int) []client.WatchEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []client.WatchEvent
	errEnough := errors.New("enough")
	err := c.Watch(ctx, name, o, func(e client.WatchEvent) error {
		got = append(got, e)
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("watch ended with %v after %d events", err, len(got))
	}
	return got
}

func TestWatchFollowsAndResumes(t *testing.T) {
	c := watched(t, 1000)
	ctx := context.Background()
	if _, err := c.Increment(ctx, "w", 1, client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The index the first increment applied at, from a read.
	status, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	since := status.AppliedIndex
	for i := 0; i < 5; i++ {
		if _, err := c.Increment(ctx, "w", 1, client.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A dead address first: the watch moves on to the fallback.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := dead.Addr().String()
	dead.Close()
	first := follow(t, client.New(deadURL), "w", client.WatchOptions{Since: since, Fallbacks: []string{c.URL()}}, 3)
	for i, e := range first {
		if want := string(rune('2' + i)); string(e.Changes[0].Value) != want || e.Object != "w" {
			t.Fatalf("event %d = %+v, want value %s", i, e, want)
		}
		if i > 0 && e.Index <= first[i-1].Index {
			t.Fatalf("indexes not increasing: %d after %d", e.Index, first[i-1].Index)
		}
	}
	// Resume after the last one seen: the next, not a repeat.
	rest := follow(t, c, "w", client.WatchOptions{Since: first[2].Index}, 2)
	if string(rest[0].Changes[0].Value) != "5" || string(rest[1].Changes[0].Value) != "6" {
		t.Fatalf("resumed events %+v, want values 5 and 6", rest)
	}
}

func TestWatchPastTheHistoryIsGone(t *testing.T) {
	c := watched(t, 2)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.Increment(ctx, "w", 1, client.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Watch(ctx, "w", client.WatchOptions{Since: 1}, func(client.WatchEvent) error { return nil })
	var gone *client.GoneError
	if !errors.As(err, &gone) || gone.Oldest <= 1 {
		t.Fatalf("watch from index 1 = %v, want a GoneError with the oldest index", err)
	}
	var bad *client.Error
	if err := c.Watch(ctx, "_reserved", client.WatchOptions{}, func(client.WatchEvent) error { return nil }); !errors.As(err, &bad) || bad.Status != 400 {
		t.Fatalf("watch of a reserved name = %v, want a 400", err)
	}
}
