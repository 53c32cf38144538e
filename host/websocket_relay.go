package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// A follower relays a client's WebSocket to the leader: it opens a
// WebSocket of its own to the leader's peer service (GET pathSocket on
// the Raft port, the class, object (and the name its id was made from,
// a), and URL in the query, the client's
// headers as they came), where the leader runs fetch. When fetch accepts,
// the leader answers 101 and the follower accepts the client's socket
// and copies messages both ways; otherwise the leader answers 200 with an
// msgpack forwardedCallResult, the call's HTTP answer or error, which the
// follower hands back as Call would. Closes travel with their codes; when
// the connection to the leader ends without a close frame (the leader
// died) or another node becomes the leader, the follower closes the
// client's socket with 1012, so the client reconnects.

// pathSocket is the peer service's WebSocket route.
const pathSocket = "/_internal/socket"

// relayLeaderCheck is how often a relay checks that the leader it relays
// to is still the leader.
const relayLeaderCheck = 250 * time.Millisecond

// handshakeHeaders are set by the WebSocket library on each hop.
var handshakeHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Sec-Websocket-Accept", "Sec-Websocket-Protocol"}

// relaySet is the sockets a follower relays, closed on shutdown.
type relaySet struct {
	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	closed bool
}

func (s *relaySet) add(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[*websocket.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *relaySet) remove(c *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *relaySet) closeAll(code int, reason string) {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		go c.Close(websocket.StatusCode(code), reason)
	}
}

// answerCapture is the relay's HTTP transport to the leader: it keeps
// the whole body of an answer that is not 101 (the WebSocket library
// keeps only its first KiB) and notes whether a connection was made.
type answerCapture struct {
	base      *http.Transport
	connected atomic.Bool
	answer    []byte
	got       bool
	status    int // the leader's HTTP status when it did not upgrade
}

func (a *answerCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(r)
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	a.status = resp.StatusCode
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxForwardedCallBytes))
	resp.Body.Close()
	if rerr == nil && resp.StatusCode == http.StatusOK {
		a.answer, a.got = b, true
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// relay serves an upgrade request on a follower through the leader.
func (h *Host) relay(w http.ResponseWriter, r *http.Request, class string, id classes.StubID, req *classes.Request) (*CallResult, error) {
	leaderID, addr := h.node.LeaderPeer()
	if addr == "" {
		return nil, cluster.ErrNotLeader
	}
	done, err := h.openSocket(true)
	if err != nil {
		return nil, err
	}
	served := false
	defer func() {
		if !served {
			done()
		}
	}()
	capture := &answerCapture{}
	capture.base = &http.Transport{
		DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
			c, err := h.node.DialPeer(ctx, raft.ServerAddress(a))
			if err == nil {
				capture.connected.Store(true)
			}
			return c, err
		},
	}
	defer capture.base.CloseIdleConnections()
	header := req.Header.Clone()
	for _, k := range handshakeHeaders {
		header.Del(k)
	}
	q := url.Values{"c": {class}, "n": {id.ID}, "u": {req.URL}}
	if id.Name != "" {
		// The name the id was made from (an older leader ignores it).
		q.Set("a", id.Name)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.callTimeout())
	defer cancel()
	lc, _, err := websocket.Dial(ctx, "ws://"+string(addr)+pathSocket+"?"+q.Encode(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: capture}, HTTPHeader: header, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if capture.got {
			var res forwardedCallResult
			if err := msgpack.Unmarshal(capture.answer, &res); err != nil {
				return nil, fmt.Errorf("%w: the leader's answer: %v", cluster.ErrOutcomeUnknown, err)
			}
			return res.outcome()
		}
		if !capture.connected.Load() || capture.status != 0 && capture.status != http.StatusOK {
			// Not sent, or refused before fetch ran: the leader answers
			// 200 for every call it ran.
			return nil, fmt.Errorf("%w: %v", cluster.ErrNotApplied, err)
		}
		return nil, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, err)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	cc, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		lc.CloseNow() // the leader's object sees a socket that ended uncleanly
		return nil, nil
	}
	limit := int64(h.cfg.MaxResponseBytes)
	lc.SetReadLimit(limit)
	cc.SetReadLimit(limit)
	if !h.relays.add(cc) {
		cc.Close(closeRestart, "the node is stopping; reconnect")
		lc.CloseNow()
		return nil, nil
	}
	served = true
	go func() {
		defer done()
		defer h.relays.remove(cc)
		h.pump(cc, lc, leaderID)
	}()
	return nil, nil
}

// pump copies messages between the client's socket cc and the leader's
// lc until either ends, then closes the other.
func (h *Host) pump(cc, lc *websocket.Conn, leaderID string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	// Leader to client: a close from the leader is passed on with its
	// code; a connection that just ends, or a leader that is no longer
	// the leader, is a restart.
	go func() {
		defer wg.Done()
		for {
			typ, data, err := lc.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					cc.Close(ce.Code, ce.Reason)
				} else {
					cc.Close(closeRestart, "the leader is gone; reconnect")
				}
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, socketWriteTimeout)
			err = cc.Write(wctx, typ, data)
			wcancel()
			if err != nil {
				lc.CloseNow()
				return
			}
		}
	}()
	// Client to leader.
	go func() {
		defer wg.Done()
		for {
			typ, data, err := cc.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					lc.Close(ce.Code, ce.Reason)
				} else {
					lc.CloseNow()
				}
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, socketWriteTimeout)
			err = lc.Write(wctx, typ, data)
			wcancel()
			if err != nil {
				cc.Close(closeRestart, "the leader is gone; reconnect")
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(relayLeaderCheck)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if id, _ := h.node.LeaderPeer(); id != leaderID {
				cc.Close(closeRestart, "the leader changed; reconnect")
				lc.CloseNow()
			}
		}
	}
}

// serveSocket is the leader's end of a relay: fetch of the upgrade
// request, then the socket, as for a client of its own. The names are
// checked as the api checks its own requests'.
func (h *Host) serveSocket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	header := r.Header.Clone()
	for _, k := range []string{"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"} {
		header.Del(k)
	}
	req := &classes.Request{Method: http.MethodGet, URL: q.Get("u"), Header: header}
	var res *CallResult
	err := h.checkNames(q.Get("c"), q.Get("n"))
	switch {
	case err != nil:
	case !h.node.IsLeader():
		err = cluster.ErrNotLeader
	default:
		res, err = h.connect(w, r, q.Get("c"), classes.StubID{ID: q.Get("n"), Name: q.Get("a")}, req, false)
		if res == nil && err == nil {
			return // upgraded
		}
	}
	writeCallResult(w, callResultOf(res, err))
}
