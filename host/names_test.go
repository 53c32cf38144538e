package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// The leader checks the class and object names a peer sends, as the api
// checks its own requests' and as it checks forwarded writes: a call or a
// socket with a name the api would refuse runs nothing, by any way it
// comes over the peer wire.
func TestLeaderChecksForwardedNames(t *testing.T) {
	c := newTestCluster(t)
	leader := c.waitLeader(nil)
	deployTest(t, leader, testCounterV1)
	f := c.follower(leader)
	bad := []struct{ name, class, object string }{
		{"class not an identifier", "Counter-1", "c1"},
		{"empty object name", "Counter", ""},
		{"object name too long", "Counter", strings.Repeat("o", 257)},
		{"object name not UTF-8", "Counter", "c\xff"},
	}
	peer := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return f.DialPeer(ctx, raft.ServerAddress(addr))
	}}}
	t.Cleanup(peer.CloseIdleConnections)
	for _, tt := range bad {
		fc := forwardedCall{Class: tt.class, Name: tt.object, Method: http.MethodPost, URL: "http://x/increment"}
		t.Run(tt.name+" on the stream", func(t *testing.T) {
			if _, err := streamCall(t, f, leader, fc); !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("%v, want objects.ErrInvalid", err)
			}
		})
		t.Run(tt.name+" posted", func(t *testing.T) {
			b, _ := msgpack.Marshal(&fc)
			resp, err := peer.Post("http://"+leader.RaftAddr()+pathCall, "application/msgpack", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := peerAnswer(t, resp).outcome(); !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("%v, want objects.ErrInvalid", err)
			}
		})
		t.Run(tt.name+" as a socket", func(t *testing.T) {
			q := url.Values{"c": {tt.class}, "n": {tt.object}, "u": {"http://x/increment"}}
			resp, err := peer.Get("http://" + leader.RaftAddr() + pathSocket + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := peerAnswer(t, resp).outcome(); !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("%v, want objects.ErrInvalid", err)
			}
		})
	}
	if st := leader.host.Stats(); st.Calls != 0 {
		t.Fatalf("the leader ran %d calls, want none", st.Calls)
	}
	if v := classValue(leader, "value"); v != "" {
		t.Fatalf("value = %s, want nothing written", v)
	}
	// A good name still runs, by each way.
	if res, err := callClass(t, f, "Counter", "increment", ""); err != nil || string(res.Response.Body) != "1" {
		t.Fatalf("a good call: %+v, %v", res, err)
	}
}

func peerAnswer(t *testing.T, resp *http.Response) forwardedCallResult {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("peer answered %d %q, %v", resp.StatusCode, b, err)
	}
	var r forwardedCallResult
	if err := msgpack.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
