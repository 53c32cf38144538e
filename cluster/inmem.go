package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/hashicorp/raft"
)

// InmemNetwork connects nodes in memory, as hashicorp/raft's own tests
// do: Raft's InmemTransport between them and net.Pipe connections for
// the peer service, with in-memory stores. A whole cluster then runs with
// no ports and no disks; fault injection disconnects transports.
type InmemNetwork struct {
	mu    sync.Mutex
	nodes map[raft.ServerAddress]*inmemPeers
}

// NewInmemNetwork returns an empty network.
func NewInmemNetwork() *InmemNetwork {
	return &InmemNetwork{nodes: map[raft.ServerAddress]*inmemPeers{}}
}

// Deps returns a new node's in-memory stores and transport, connected to
// every node already on the network.
func (nw *InmemNetwork) Deps() Deps {
	store := raft.NewInmemStore()
	addr, trans := raft.NewInmemTransport("")
	return nw.attach(addr, trans, Deps{
		Logs:         store,
		Stable:       store,
		Snaps:        newRefSnapshotStore(raft.NewInmemSnapshotStore(), ""),
		LogStoreKind: "inmem",
	})
}

// Reopen returns the stores of a closed node's d with a new transport at
// the same address: the node restarted, with what it had written.
func (nw *InmemNetwork) Reopen(d Deps) Deps {
	addr, trans := raft.NewInmemTransport(d.Trans.LocalAddr())
	return nw.attach(addr, trans, d)
}

// attach puts a node with transport trans on the network and returns d
// with its transport and peer network.
func (nw *InmemNetwork) attach(addr raft.ServerAddress, trans *raft.InmemTransport, d Deps) Deps {
	p := &inmemPeers{nw: nw, addr: addr, trans: trans, ln: newChanListener(advertisedAddr(addr)),
		blocked: map[raft.ServerAddress]bool{}, conns: map[net.Conn]raft.ServerAddress{}}
	nw.mu.Lock()
	for other, o := range nw.nodes {
		trans.Connect(other, o.trans)
		o.trans.Connect(addr, trans)
	}
	nw.nodes[addr] = p
	nw.mu.Unlock()
	d.Trans, d.Peers = trans, p
	return d
}

func (nw *InmemNetwork) node(addr raft.ServerAddress) *inmemPeers {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.nodes[addr]
}

// inmemPeers is one node's PeerNet on an InmemNetwork.
type inmemPeers struct {
	nw    *InmemNetwork
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	ln    *chanListener

	// mu guards blocked and conns (this node's dialed connections).
	mu      sync.Mutex
	blocked map[raft.ServerAddress]bool
	conns   map[net.Conn]raft.ServerAddress
}

var _ PeerNet = (*inmemPeers)(nil)

func (p *inmemPeers) PeerListener() net.Listener { return p.ln }

func (p *inmemPeers) DialPeer(ctx context.Context, addr raft.ServerAddress) (net.Conn, error) {
	p.mu.Lock()
	blocked := p.blocked[addr]
	p.mu.Unlock()
	if blocked {
		return nil, errPartitioned
	}
	target := p.nw.node(addr)
	if host, port, err := net.SplitHostPort(string(addr)); target == nil && err == nil && port == "80" {
		// net/http dials a URL's host with its default port; in-memory
		// addresses have none.
		addr, target = raft.ServerAddress(host), p.nw.node(raft.ServerAddress(host))
	}
	if target == nil {
		return nil, fmt.Errorf("dial %s: %w", addr, errNoSuchNode)
	}
	mine, theirs := net.Pipe()
	done := make(chan bool, 1)
	go func() { done <- target.ln.deliver(theirs) }()
	select {
	case ok := <-done:
		if !ok {
			mine.Close()
			return nil, fmt.Errorf("dial %s: %w", addr, net.ErrClosed)
		}
	case <-ctx.Done():
		mine.Close()
		theirs.Close()
		return nil, ctx.Err()
	}
	c := &inmemConn{Conn: mine, p: p}
	p.mu.Lock()
	p.conns[c] = addr
	p.mu.Unlock()
	return c, nil
}

// inmemConn is a dialed peer connection that forgets itself on Close.
type inmemConn struct {
	net.Conn
	p *inmemPeers
}

func (c *inmemConn) Close() error {
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
	return c.Conn.Close()
}

var errNoSuchNode = errors.New("no node at this address")

// SetBlocked disconnects this node's transport from addrs (and
// reconnects the others) and cuts its peer connections to them.
func (p *inmemPeers) SetBlocked(addrs []raft.ServerAddress) {
	p.mu.Lock()
	p.blocked = map[raft.ServerAddress]bool{}
	for _, a := range addrs {
		p.blocked[a] = true
	}
	for c, a := range p.conns {
		if p.blocked[a] {
			c.(*inmemConn).Conn.Close()
			delete(p.conns, c)
		}
	}
	blocked := p.blocked
	p.mu.Unlock()
	p.nw.mu.Lock()
	defer p.nw.mu.Unlock()
	for other, o := range p.nw.nodes {
		if other == p.addr {
			continue
		}
		if blocked[other] {
			p.trans.Disconnect(other)
		} else {
			p.trans.Connect(other, o.trans)
		}
	}
}

// Close takes the node off the network.
func (p *inmemPeers) Close() error {
	p.ln.Close()
	p.nw.mu.Lock()
	delete(p.nw.nodes, p.addr)
	for _, o := range p.nw.nodes {
		o.trans.Disconnect(p.addr)
	}
	p.nw.mu.Unlock()
	p.mu.Lock()
	for c := range p.conns {
		c.(*inmemConn).Conn.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	return nil
}
