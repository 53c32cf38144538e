package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/objects"
)

// seen is what a fake server received.
type seen struct {
	method, uri, idem, ctype, body string
}

// fake answers every request with status and body, recording what it got.
func fake(t *testing.T, status int, body string) (*client.Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{method: r.Method, uri: r.RequestURI, idem: r.Header.Get("Idempotency-Key"), ctype: r.Header.Get("Content-Type"), body: string(b)}
		if status/100 == 2 {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL), got
}

// TestWire checks each method's request (method, escaped path, query,
// Idempotency-Key, body) and the decoding of its success answer.
func TestWire(t *testing.T) {
	ctx := context.Background()
	idem := client.WriteOptions{IdempotencyKey: "k-1"}
	for _, tt := range []struct {
		name   string
		answer string
		call   func(c *client.Client) (any, error)
		want   any
		req    seen
	}{
		{"increment", `{"name":"card-1","value":6}`,
			func(c *client.Client) (any, error) { return c.Increment(ctx, "card-1", 5, idem) },
			int64(6), seen{method: "POST", uri: "/card-1/increment?by=5", idem: "k-1"}},
		{"decrement with key and escaped name", `{"name":"a/b c","value":-2}`,
			func(c *client.Client) (any, error) {
				return c.Increment(ctx, "a/b c", -2, client.WriteOptions{Key: "k/ü"})
			},
			int64(-2), seen{method: "POST", uri: "/a%2Fb%20c/increment?by=-2&key=k%2F%C3%BC"}},
		{"counter", `{"name":"c","value":41}`,
			func(c *client.Client) (any, error) { return c.Counter(ctx, "c", client.ReadOptions{}) },
			int64(41), seen{method: "GET", uri: "/c"}},
		{"stale counter of a key", `{"name":"c","value":1}`,
			func(c *client.Client) (any, error) {
				return c.Counter(ctx, "c", client.ReadOptions{Key: "n", Stale: true})
			},
			int64(1), seen{method: "GET", uri: "/c?consistency=stale&key=n"}},
		{"get", `{"a":[1,2]}`,
			func(c *client.Client) (any, error) {
				v, found, err := c.Get(ctx, "ключ", "dir/file name", client.ReadOptions{})
				return []any{string(v), found}, err
			},
			[]any{`{"a":[1,2]}`, true}, seen{method: "GET", uri: "/%D0%BA%D0%BB%D1%8E%D1%87/storage/dir%2Ffile%20name"}},
		{"put", `{"ok":true}`,
			func(c *client.Client) (any, error) {
				return nil, c.Put(ctx, "o", "k", json.RawMessage(`{"x":1}`), idem)
			},
			nil, seen{method: "PUT", uri: "/o/storage/k", idem: "k-1", ctype: "application/json", body: `{"x":1}`}},
		{"delete", `{"deleted":true}`,
			func(c *client.Client) (any, error) { return c.Delete(ctx, "o", "a b", client.WriteOptions{}) },
			true, seen{method: "DELETE", uri: "/o/storage/a%20b"}},
		{"list", `{"entries":[{"key":"a","value":1},{"key":"b","value":"x"}],"more":true}`,
			func(c *client.Client) (any, error) {
				e, more, err := c.List(ctx, "o", objects.ListOptions{Prefix: "p/", StartAfter: "p/a", Limit: 2, Reverse: true}, client.ReadOptions{Stale: true})
				return []any{e, more}, err
			},
			[]any{[]objects.Entry{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`"x"`)}}, true},
			seen{method: "GET", uri: "/o/storage?consistency=stale&limit=2&prefix=p%2F&reverse=true&startAfter=p%2Fa"}},
		{"delete all", `{"deleted":3}`,
			func(c *client.Client) (any, error) { return c.DeleteAll(ctx, "o", idem) },
			int64(3), seen{method: "DELETE", uri: "/o/storage", idem: "k-1"}},
		{"transaction", `{"succeeded":true,"results":[{"op":"put","key":"k"}]}`,
			func(c *client.Client) (any, error) {
				r, err := c.Txn(ctx, "o", objects.Txn{
					Compare: []objects.Compare{{Key: "k", Op: objects.CmpMissing}},
					Success: []objects.Op{{Op: objects.OpPut, Key: "k", Value: json.RawMessage(`1`)}},
				}, idem)
				return []any{r.Succeeded, len(r.Results), r.Results[0].Key}, err
			},
			[]any{true, 1, "k"}, seen{method: "POST", uri: "/o/transaction", idem: "k-1", ctype: "application/json",
				body: `{"compare":[{"key":"k","op":"missing"}],"success":[{"op":"put","key":"k","value":1}]}`}},
		{"status", `{"id":"n1","state":"leader","leader":{"id":"n1","http_addr":"h:1"},"term":3,"commit_index":9,"applied_index":8,"members":[{"id":"n1","raft_addr":"r:1","http_addr":"h:1","suffrage":"voter"}]}`,
			func(c *client.Client) (any, error) {
				s, err := c.Status(ctx)
				return []any{s.ID, s.State, s.Leader.HTTPAddr, s.Term, s.CommitIndex, s.AppliedIndex, s.Members}, err
			},
			[]any{"n1", "leader", "h:1", uint64(3), uint64(9), uint64(8), []client.Member{{ID: "n1", RaftAddr: "r:1", HTTPAddr: "h:1", Suffrage: "voter"}}},
			seen{method: "GET", uri: "/_cluster/status"}},
		{"digest", `{"digest":"ab","applied_index":7,"keys":2}`,
			func(c *client.Client) (any, error) { return c.Digest(ctx) },
			client.Digest{Digest: "ab", AppliedIndex: 7, Keys: 2}, seen{method: "GET", uri: "/_cluster/digest"}},
		{"ready", `{"ready":true}`,
			func(c *client.Client) (any, error) { return c.Ready(ctx) },
			true, seen{method: "GET", uri: "/_ready"}},
		{"join", `{"ok":true}`,
			func(c *client.Client) (any, error) { return nil, c.Join(ctx, "n4", "r:4", "h:4") },
			nil, seen{method: "POST", uri: "/_cluster/join", ctype: "application/json", body: `{"http_addr":"h:4","id":"n4","raft_addr":"r:4"}`}},
		{"remove", `{"ok":true}`,
			func(c *client.Client) (any, error) { return nil, c.Remove(ctx, "n 4") },
			nil, seen{method: "DELETE", uri: "/_cluster/members/n%204"}},
		{"partition", `{"blocked":["n2"]}`,
			func(c *client.Client) (any, error) { return nil, c.Partition(ctx, []string{"n2"}) },
			nil, seen{method: "POST", uri: "/_test/partition", ctype: "application/json", body: `{"blocked":["n2"]}`}},
		{"heal", `{"blocked":[]}`,
			func(c *client.Client) (any, error) { return nil, c.Partition(ctx, nil) },
			nil, seen{method: "POST", uri: "/_test/partition", ctype: "application/json", body: `{"blocked":[]}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fake(t, http.StatusOK, tt.answer)
			res, err := tt.call(c)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(res, tt.want) {
				t.Errorf("result = %#v, want %#v", res, tt.want)
			}
			if *got != tt.req {
				t.Errorf("request = %+v, want %+v", *got, tt.req)
			}
		})
	}
}

// TestGetAbsent: a 404 on a storage read is "absent", not an error.
func TestGetAbsent(t *testing.T) {
	c, _ := fake(t, http.StatusNotFound, `{"type":"not-found","title":"Not Found","status":404}`)
	v, found, err := c.Get(context.Background(), "o", "k", client.ReadOptions{})
	if err != nil || found || v != nil {
		t.Fatalf("Get = %s, %v, %v; want absent", v, found, err)
	}
}

// TestReadyFalse: a node that is not ready answers 503: false, no error.
func TestReadyFalse(t *testing.T) {
	c, _ := fake(t, http.StatusServiceUnavailable, `{"type":"unavailable","title":"Service Unavailable","status":503}`)
	if ok, err := c.Ready(context.Background()); ok || err != nil {
		t.Fatalf("Ready = %v, %v; want false, nil", ok, err)
	}
}

// TestErrorStatuses decodes each problem+json status into *Error and
// checks which leave the outcome unknown.
func TestErrorStatuses(t *testing.T) {
	for _, tt := range []struct {
		status  int
		typ     string
		body    string
		title   string
		unknown bool
	}{
		{400, "bad-request", `{"type":"bad-request","title":"Bad Request","status":400,"detail":"invalid name"}`, "Bad Request", false},
		{404, "not-found", `{"type":"not-found","title":"Not Found","status":404}`, "Not Found", false},
		{409, "conflict", `{"type":"conflict","title":"Conflict","status":409,"detail":"not an integer"}`, "Conflict", false},
		{413, "too-large", `{"type":"too-large","title":"Payload Too Large","status":413}`, "Payload Too Large", false},
		{503, "unavailable", `{"type":"unavailable","title":"Service Unavailable","status":503,"detail":"no leader"}`, "Service Unavailable", false},
		{504, "outcome-unknown", `{"type":"outcome-unknown","title":"Gateway Timeout","status":504}`, "Gateway Timeout", true},
		{502, "", `<html>bad gateway</html>`, "Bad Gateway", false}, // not problem+json: title from the status
	} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			c, _ := fake(t, tt.status, tt.body)
			// Through a write (Increment) and a read (Counter): every
			// method goes through the same decoding.
			_, werr := c.Increment(context.Background(), "c", 1, client.WriteOptions{})
			_, rerr := c.Counter(context.Background(), "c", client.ReadOptions{})
			for _, err := range []error{werr, rerr} {
				var e *client.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v (%T), want *client.Error", err, err)
				}
				if e.Status != tt.status || e.Type != tt.typ || e.Title != tt.title {
					t.Errorf("Error = %+v, want status %d type %q title %q", e, tt.status, tt.typ, tt.title)
				}
				if e.Unknown() != tt.unknown || client.Unknown(err) != tt.unknown {
					t.Errorf("Unknown = %v / %v, want %v", e.Unknown(), client.Unknown(err), tt.unknown)
				}
				if e.Error() == "" {
					t.Error("empty Error()")
				}
			}
		})
	}
}

// TestTransportErrors: a request that never left (refused connection) is a
// definite failure; one whose answer never came (timeout, cut connection)
// is unknown.
func TestTransportErrors(t *testing.T) {
	ctx := context.Background()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = client.New(closed).Increment(ctx, "c", 1, client.WriteOptions{})
	if err == nil || client.Unknown(err) {
		t.Errorf("refused connection: err %v, Unknown %v; want a definite failure", err, client.Unknown(err))
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	_, err = client.New(slow.URL, client.WithTimeout(50e6)).Increment(ctx, "c", 1, client.WriteOptions{})
	if err == nil || !client.Unknown(err) {
		t.Errorf("timeout after sending: err %v, Unknown %v; want unknown", err, client.Unknown(err))
	}
}

// TestWithHTTPClient: the given http.Client carries the requests.
func TestWithHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"name":"c","value":1}`)
	}))
	defer srv.Close()
	var used bool
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := client.New(srv.URL, client.WithHTTPClient(hc)).Counter(context.Background(), "c", client.ReadOptions{}); err != nil || !used {
		t.Fatalf("err %v, custom client used %v", err, used)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTokenOnEveryRequest: WithToken's bearer token goes on the requests
// of every kind of method: JSON ones, class calls and sources (raw),
// watches and backups.
func TestTokenOnEveryRequest(t *testing.T) {
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path + " " + r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"title":"Unauthorized","status":401}`)
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, client.WithToken("T"))
	ctx := context.Background()
	for _, call := range []struct {
		path string
		do   func() error
	}{
		{"/_classes", func() error { _, err := c.Classes(ctx); return err }},
		{"/_classes/C", func() error { _, err := c.Deploy(ctx, "C", []byte("export class C {}"), "js"); return err }},
		{"/_classes/C", func() error { _, err := c.ClassSource(ctx, "C"); return err }},
		{"/do/C/o/", func() error { _, err := c.Call(ctx, "C", "o", client.CallRequest{}); return err }},
		{"/o/watch", func() error {
			return c.Watch(ctx, "o", client.WatchOptions{}, func(client.WatchEvent) error { return nil })
		}},
		{"/_cluster/backup", func() error { _, err := c.Backup(ctx, io.Discard); return err }},
	} {
		var e *client.Error
		if err := call.do(); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %v, want the server's 401", call.path, err)
		}
		if req := <-got; req != call.path+" Bearer T" {
			t.Fatalf("the server got %q, want %q", req, call.path+" Bearer T")
		}
	}
}
