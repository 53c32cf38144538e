package cluster

import "sync"

// closeSet is the open connections of one kind that the node closes when
// it shuts down (ones the HTTP server no longer tracks: taken-over
// forwarding streams, relayed WebSockets); once closed it refuses more.
type closeSet[T comparable] struct {
	mu     sync.Mutex
	conns  map[T]struct{}
	closed bool
}

// add tracks c; false once the set is closed (the caller closes c).
func (s *closeSet[T]) add(c T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[T]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *closeSet[T]) remove(c T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll closes the set and each connection in it with closeConn.
func (s *closeSet[T]) closeAll(closeConn func(T)) {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		closeConn(c)
	}
}
