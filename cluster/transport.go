package cluster

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// errPartitioned is what a dial to a blocked peer fails with.
var errPartitioned = errors.New("partitioned by fault injection")

// streamLayer is Raft's TCP stream layer with an optional fault switch:
// while a peer's address is blocked, dials to it fail and the connections
// already open to it are closed. A partition is made by blocking each side
// on both nodes, so every connection between them is cut by its dialer.
type streamLayer struct {
	net.Listener
	advertise net.Addr // what Addr returns, and so the transport's LocalAddr

	// mu guards blocked and conns.
	mu      sync.Mutex
	blocked map[raft.ServerAddress]bool
	conns   map[*trackedConn]struct{}
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(ln net.Listener, advertise string) *streamLayer {
	return &streamLayer{Listener: ln, advertise: advertisedAddr(advertise),
		blocked: map[raft.ServerAddress]bool{}, conns: map[*trackedConn]struct{}{}}
}

// Addr is the address the other nodes reach this one at, not the
// listener's: raft.NetworkTransport takes its LocalAddr from here, and a
// listener on 0.0.0.0 would tell the others to dial themselves.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// advertisedAddr is a host:port as a net.Addr; the host may be a name,
// which net.TCPAddr cannot hold.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Dial opens a connection to a peer, unless it is blocked.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	blocked := s.blocked[address]
	s.mu.Unlock()
	if blocked {
		return nil, errPartitioned
	}
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, layer: s, target: address}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[address] {
		c.Close()
		return nil, errPartitioned
	}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// setBlocked replaces the set of blocked addresses and cuts the open
// connections to them.
func (s *streamLayer) setBlocked(addrs []raft.ServerAddress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked = make(map[raft.ServerAddress]bool, len(addrs))
	for _, a := range addrs {
		s.blocked[a] = true
	}
	for c := range s.conns {
		if s.blocked[c.target] {
			c.Conn.Close()
			delete(s.conns, c)
		}
	}
}

// trackedConn is an outgoing connection that forgets itself on Close.
type trackedConn struct {
	net.Conn
	layer  *streamLayer
	target raft.ServerAddress
}

func (c *trackedConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}
