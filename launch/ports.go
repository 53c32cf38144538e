package launch

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// Ports hands out loopback ports from one range, for tests that run
// nodes beside other packages' tests: single ports, and cluster bases
// whose HTTP and Raft ports (HTTPPort, RaftPort) are all free. A port
// found busy is skipped. Keep ranges below the kernel's ephemeral ports
// (32768 up), which outgoing connections may hold.
type Ports struct {
	mu        sync.Mutex
	next, end int // single ports
	base, top int // cluster bases, in steps of 10
}

// NewPorts hands out single ports in [from, to) and cluster bases in
// [baseFrom, baseTo).
func NewPorts(from, to, baseFrom, baseTo int) *Ports {
	return &Ports{next: from, end: to, base: baseFrom, top: baseTo}
}

// Port returns a port nothing listens on.
func (p *Ports) Port() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.next < p.end; p.next++ {
		if Free(p.next) {
			p.next++
			return p.next - 1, nil
		}
	}
	return 0, fmt.Errorf("no free port left below %d", p.end)
}

// Base returns a cluster base port whose ports for n nodes are free.
func (p *Ports) Base(n int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.base < p.top; p.base += 10 {
		ok := true
		for i := 1; i <= n && ok; i++ {
			ok = Free(HTTPPort(p.base, i)) && Free(RaftPort(p.base, i))
		}
		if ok {
			p.base += 10
			return p.base - 10, nil
		}
	}
	return 0, fmt.Errorf("no free cluster base left below %d", p.top)
}

// Free reports whether nothing listens on the loopback port.
func Free(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	return ln.Close() == nil
}
