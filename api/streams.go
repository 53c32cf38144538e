package api

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/dobj/dobj/auth"
	"github.com/labstack/echo/v4"
)

// Long-lived requests — watch streams and class objects' WebSockets — are
// counted apart from the requests limitInFlight caps: a stream would hold
// a request slot for as long as its client likes, so that a thousand
// watches could leave a node refusing every read and write. The node caps
// them as a whole elsewhere (--max-watches, the cluster's socket cap);
// here each token may hold at most MaxStreamsPerToken of them, so that
// one token cannot take a node's every stream. A node without tokens has
// no one to tell apart and only its node-wide caps apply.
//
// Each stream is also remembered with the token it came with, so that
// Reauthorize can end those whose token left the auth file (or lost the
// role) and signing out ends those of the session.

// defaultMaxStreamsPerToken is MaxStreamsPerToken's default: a tenth of
// the default --max-watches.
const defaultMaxStreamsPerToken = 1000

// streams is the set of open streams.
type streams struct {
	perToken int

	mu     sync.Mutex
	open   map[*openStream]struct{}
	counts map[string]int // streams open per token (the holder key)
}

// openStream is one open watch or WebSocket.
type openStream struct {
	token   string    // the token it was opened with; "" without auth
	session string    // the console session it came with, if any
	need    auth.Role // the role its route needs
	cancel  context.CancelFunc

	mu       sync.Mutex
	conn     net.Conn // the hijacked connection of a WebSocket
	ended    bool     // released: no longer counted
	revoked  bool     // its token or session was revoked
	hijacked bool
}

func newStreams(perToken int) *streams {
	return &streams{perToken: perToken, open: map[*openStream]struct{}{}, counts: map[string]int{}}
}

// isStream reports whether a request is a long-lived one: a watch, a
// script's tail or a WebSocket upgrade of a class object.
func isStream(c echo.Context) bool {
	r := c.Request()
	return c.Path() == routeWatch || c.Path() == routeTail || strings.HasPrefix(r.URL.Path, "/do/") && isWebSocketUpgrade(r)
}

// add counts a new stream of token; false when token holds its most.
func (ss *streams) add(st *openStream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st.token != "" && ss.counts[st.token] >= ss.perToken {
		return false
	}
	ss.open[st] = struct{}{}
	if st.token != "" {
		ss.counts[st.token]++
	}
	return true
}

// release stops counting st; it is idempotent.
func (ss *streams) release(st *openStream) {
	st.mu.Lock()
	ended := st.ended
	st.ended = true
	st.mu.Unlock()
	if ended {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.open, st)
	if st.token != "" {
		if ss.counts[st.token]--; ss.counts[st.token] <= 0 {
			delete(ss.counts, st.token)
		}
	}
}

// revoke ends every open stream for which end says so, and returns how
// many it ended.
func (ss *streams) revoke(end func(*openStream) bool) int {
	ss.mu.Lock()
	var doomed []*openStream
	for st := range ss.open {
		if end(st) {
			doomed = append(doomed, st)
		}
	}
	ss.mu.Unlock()
	for _, st := range doomed {
		st.end()
	}
	return len(doomed)
}

// end cuts the stream: a watch's request context ends, a WebSocket's
// connection closes (the object then sees it go, as when a client
// leaves).
func (st *openStream) end() {
	st.mu.Lock()
	st.revoked = true
	conn := st.conn
	st.mu.Unlock()
	st.cancel()
	if conn != nil {
		conn.Close()
	}
}

// count is the number of open streams (tests).
func (ss *streams) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.open)
}

// limitStreams counts a long-lived request from its start until it ends
// (a WebSocket: until its connection closes, after the handler returned).
// It runs after authenticate, which told it the token.
func (s *Server) limitStreams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !isStream(c) {
			return next(c)
		}
		r := c.Request()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		id, _ := c.Get(ctxIdentity).(identity)
		st := &openStream{token: id.token, session: id.session, need: requiredRole(r.Method, r.URL.Path), cancel: cancel}
		if !s.streams.add(st) {
			return &apiError{http.StatusTooManyRequests, "this token holds as many watches and WebSockets open as it may (--max-streams-per-token); close one or retry later"}
		}
		c.SetRequest(r.WithContext(ctx))
		res := c.Response()
		res.Writer = &hijackWatcher{ResponseWriter: res.Writer, stream: st, streams: s.streams}
		defer func() {
			st.mu.Lock()
			hijacked := st.hijacked
			st.mu.Unlock()
			if !hijacked {
				s.streams.release(st)
			}
		}()
		return next(c)
	}
}

// hijackWatcher hands out the connection a WebSocket takes over wrapped,
// so that its stream stays counted until the connection closes and can
// be closed by a revocation.
type hijackWatcher struct {
	http.ResponseWriter
	stream  *openStream
	streams *streams
}

func (w *hijackWatcher) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	st := w.stream
	tc := &trackedConn{Conn: conn, closed: func() { w.streams.release(st) }}
	st.mu.Lock()
	st.hijacked, st.conn = true, tc
	revoked := st.revoked
	st.mu.Unlock()
	if revoked {
		tc.Close() // revoked while fetch ran: the socket ends at once
	}
	return tc, brw, nil
}

// trackedConn calls closed once, when it is first closed: before the
// connection closes, so that the stream is no longer counted by the time
// its client sees it end (a client that reconnects at once is not
// refused for the stream it just lost).
type trackedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.closed)
	return c.Conn.Close()
}
