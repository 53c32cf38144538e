package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
)

func TestAdvertisedAddr(t *testing.T) {
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 5000}
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 5000}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	tests := []struct {
		advertise string
		bound     net.Addr
		want      string
		wantErr   error // nil: success; errAny: any error
	}{
		{"", loop, "127.0.0.1:5000", nil},
		{"10.0.0.1:9081", any4, "10.0.0.1:9081", nil},
		{"node.example:0", any4, "node.example:5000", nil},
		{"[::1]:0", any6, "[::1]:5000", nil},
		{"", any4, "", ErrUnspecifiedHost},
		{"", any6, "", ErrUnspecifiedHost},
		{"[::]:9081", loop, "", ErrUnspecifiedHost},
		{":9081", loop, "", ErrUnspecifiedHost},
		{"node.example", loop, "", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.advertise+"@"+tt.bound.String(), func(t *testing.T) {
			got, err := AdvertisedAddr(tt.advertise, tt.bound)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

// TestNodesAdvertiseOtherThanBound starts two nodes that listen on
// 127.0.0.1 and advertise localhost (tests keep to loopback; 0.0.0.0 is
// the case this serves): the Raft configuration (what peers dial) holds
// the advertised addresses with the ports bound, not the listeners', and
// the second node, added at its advertised address, replicates.
func TestNodesAdvertiseOtherThanBound(t *testing.T) {
	c := &testCluster{t: t, nodes: map[string]*Node{}, dirs: map[string]string{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Close()
		}
	})
	advertising := func(id string) Config {
		cfg := testConfig(id, t.TempDir())
		cfg.RaftAddr, cfg.AdvertiseRaft = "127.0.0.1:0", "localhost:0"
		return cfg
	}
	cfg := advertising("n1")
	cfg.Peers = []Peer{{ID: "n1", RaftAddr: "localhost:0"}}
	n1 := c.open(cfg)
	leader := c.waitLeader(nil)
	n2 := c.open(advertising("n2"))
	c.join(nil, "n2", "")

	for _, n := range []*Node{n1, n2} {
		_, boundPort, _ := net.SplitHostPort(n.deps.Peers.(*tcpNet).ln.Addr().String())
		if want := "localhost:" + boundPort; n.RaftAddr() != want || string(n.deps.Trans.LocalAddr()) != want {
			t.Errorf("%s: RaftAddr %q, transport LocalAddr %q; want %q", n.cfg.ID, n.RaftAddr(), n.deps.Trans.LocalAddr(), want)
		}
	}
	for _, m := range leader.Status().Members {
		if m.RaftAddr != c.nodes[m.ID].RaftAddr() {
			t.Errorf("member %s at %q, want its advertised %q", m.ID, m.RaftAddr, c.nodes[m.ID].RaftAddr())
		}
	}
	// A write reaches n2: sent until one is acknowledged, as an election
	// on a loaded machine may leave one of unknown outcome.
	for unknown := true; unknown; {
		var err error
		if unknown, err = sendIncrement(c.leaderNow, "card"); err != nil {
			t.Fatal(err)
		}
	}
	c.eventually(10*time.Second, "n2 to replicate", func() bool {
		var v int64
		n2.Read(context.Background(), false, func(s *objects.Store) { v, _ = s.Counter("card", "value") })
		return v >= 1 && digestOf(n2).Digest == digestOf(n1).Digest
	})
}

// TestOpenRefusesUnspecifiedRaftAddr: without AdvertiseRaft, a node told
// to listen on every interface has no address to give its peers; Open
// says so before it listens or touches the data directory.
func TestOpenRefusesUnspecifiedRaftAddr(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		cfg := testConfig("solo", t.TempDir())
		cfg.RaftAddr = addr
		cfg.Peers = []Peer{{ID: "solo", RaftAddr: "127.0.0.1:0"}}
		n, err := Open(context.Background(), cfg)
		if err == nil {
			n.Close()
		}
		if !errors.Is(err, ErrUnspecifiedHost) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("Open(%s) = %v, want ErrUnspecifiedHost naming the address", addr, err)
		}
		if entries, _ := os.ReadDir(cfg.DataDir); len(entries) > 0 {
			t.Fatalf("Open(%s) refused but left %d files in the data directory", addr, len(entries))
		}
	}
}
