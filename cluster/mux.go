package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The Raft port carries two kinds of connection: Raft's own RPCs and the
// peer service (forwarded writes, read indexes, joins; see peer.go). A
// dialer writes one byte first that says which; the listener reads it and
// hands the connection to the Raft transport or to the peer service, as
// rqlite multiplexes its Raft port. So a node needs one port for all its
// node-to-node traffic, and the public API carries none of it.
const (
	muxRaft byte = 1
	muxPeer byte = 2
)

// muxHeaderTimeout bounds how long an accepted connection may take to
// send its first byte.
const muxHeaderTimeout = 10 * time.Second

// errPartitioned is what a dial to a blocked peer fails with.
var errPartitioned = errors.New("partitioned by fault injection")

// tcpNet is the node-to-node network over TCP: the Raft transport's
// stream layer (Dial and Accept of Raft connections) and the peer
// service's listener and dialer, on one listener. It has a fault switch:
// while a peer's address is blocked, dials to it fail and the connections
// already open to it are closed. A partition is made by blocking each side
// on both nodes, so every connection between them is cut by its dialer.
type tcpNet struct {
	ln        net.Listener
	advertise net.Addr    // what Addr returns, and so the transport's LocalAddr
	clientTLS *tls.Config // nil: plain TCP
	raftConns chan net.Conn
	peer      *chanListener
	done      chan struct{}
	closeOnce sync.Once

	// mu guards blocked and conns.
	mu      sync.Mutex
	blocked map[raft.ServerAddress]bool
	conns   map[*trackedConn]struct{}
}

var (
	_ raft.StreamLayer = (*tcpNet)(nil)
	_ PeerNet          = (*tcpNet)(nil)
)

// newTCPNet serves Raft and the peer service on ln. With serverTLS and
// clientTLS (both or neither) every connection is mutual TLS: the
// listener requires a client certificate its CAs signed, and dials
// present this node's.
func newTCPNet(ln net.Listener, advertise string, serverTLS, clientTLS *tls.Config) *tcpNet {
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	t := &tcpNet{
		clientTLS: clientTLS,
		ln:        ln,
		advertise: advertisedAddr(advertise),
		raftConns: make(chan net.Conn),
		done:      make(chan struct{}),
		blocked:   map[raft.ServerAddress]bool{},
		conns:     map[*trackedConn]struct{}{},
	}
	t.peer = newChanListener(t.advertise)
	go t.acceptLoop()
	return t
}

// acceptLoop reads each connection's first byte, apart from the loop,
// so that one slow dialer holds up no other.
func (t *tcpNet) acceptLoop() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			t.Close()
			return
		}
		go t.route(c)
	}
}

func (t *tcpNet) route(c net.Conn) {
	// The deadline covers a TLS handshake, which the first Read runs.
	c.SetReadDeadline(time.Now().Add(muxHeaderTimeout))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	switch b[0] {
	case muxRaft:
		select {
		case t.raftConns <- c:
		case <-t.done:
			c.Close()
		}
	case muxPeer:
		if !t.peer.deliver(c) {
			c.Close()
		}
	default:
		c.Close()
	}
}

// Accept returns the next Raft connection (raft.StreamLayer).
func (t *tcpNet) Accept() (net.Conn, error) {
	select {
	case c := <-t.raftConns:
		return c, nil
	case <-t.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening for both kinds of connection.
func (t *tcpNet) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		t.ln.Close()
		t.peer.Close()
	})
	return nil
}

// Addr is the address the other nodes reach this one at, not the
// listener's: raft.NetworkTransport takes its LocalAddr from here, and a
// listener on 0.0.0.0 would tell the others to dial themselves.
func (t *tcpNet) Addr() net.Addr { return t.advertise }

// Dial opens a Raft connection to a peer (raft.StreamLayer).
func (t *tcpNet) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.dial(ctx, address, muxRaft)
}

// DialPeer opens a connection to a peer's peer service.
func (t *tcpNet) DialPeer(ctx context.Context, address raft.ServerAddress) (net.Conn, error) {
	return t.dial(ctx, address, muxPeer)
}

// PeerListener is where the other nodes' peer connections arrive.
func (t *tcpNet) PeerListener() net.Listener { return t.peer }

func (t *tcpNet) dial(ctx context.Context, address raft.ServerAddress, kind byte) (net.Conn, error) {
	if t.isBlocked(address) {
		return nil, errPartitioned
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	if t.clientTLS != nil {
		if c, err = handshake(ctx, c, t.clientTLS, address); err != nil {
			return nil, err
		}
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	tc := &trackedConn{Conn: c, net: t, target: address}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.blocked[address] {
		c.Close()
		return nil, errPartitioned
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

func (t *tcpNet) isBlocked(address raft.ServerAddress) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blocked[address]
}

// SetBlocked replaces the set of blocked addresses and cuts the open
// connections to them.
func (t *tcpNet) SetBlocked(addrs []raft.ServerAddress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocked = make(map[raft.ServerAddress]bool, len(addrs))
	for _, a := range addrs {
		t.blocked[a] = true
	}
	for c := range t.conns {
		if t.blocked[c.target] {
			c.Conn.Close()
			delete(t.conns, c)
		}
	}
}

// trackedConn is an outgoing connection that forgets itself on Close.
type trackedConn struct {
	net.Conn
	net    *tcpNet
	target raft.ServerAddress
}

func (c *trackedConn) Close() error {
	c.net.mu.Lock()
	delete(c.net.conns, c)
	c.net.mu.Unlock()
	return c.Conn.Close()
}

// advertisedAddr is a host:port as a net.Addr; the host may be a name,
// which net.TCPAddr cannot hold.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// chanListener is a net.Listener fed connections by whoever accepted
// them: the peer service's share of the Raft port, or an in-memory
// network's.
type chanListener struct {
	addr      net.Addr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept; false once the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// handshake runs the client side of mutual TLS on c to address.
func handshake(ctx context.Context, c net.Conn, cfg *tls.Config, address raft.ServerAddress) (net.Conn, error) {
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("dial %s: %w", address, err)
		}
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", address, err)
	}
	return tc, nil
}
