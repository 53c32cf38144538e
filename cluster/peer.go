package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// PeerNet carries the peer service between nodes: forwarded writes, read
// indexes, joins and removals. Over TCP it shares the Raft port (tcpNet);
// in tests it is in memory (InmemNetwork). SetBlocked is fault injection:
// it cuts this node's Raft and peer traffic to the given addresses.
type PeerNet interface {
	PeerListener() net.Listener
	DialPeer(ctx context.Context, addr raft.ServerAddress) (net.Conn, error)
	SetBlocked(addrs []raft.ServerAddress)
	Close() error
}

// maxPeerBody bounds the body of a peer request other than the stream.
const maxPeerBody = 1 << 20

// peerServer serves the peer service on a node's share of the Raft port.
type peerServer struct {
	hs *http.Server
	// streams are the forwarding streams followers opened to this
	// node, closed on shutdown: the HTTP server forgets a connection
	// once it is taken over.
	streams connSet
	// refuseStreamV2 is a test hook: the forwarding stream is served as
	// by a build before /2, for a mixed-version cluster.
	refuseStreamV2 atomic.Bool
}

// servePeers starts serving the peer service on ln.
func (n *Node) servePeers(ln net.Listener) *peerServer {
	ps := &peerServer{}
	ps.hs = &http.Server{
		Handler:           n.InternalHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go ps.hs.Serve(ln)
	return ps
}

func (ps *peerServer) close() {
	ps.streams.closeAll()
	ps.hs.Close()
}

// InternalHandler serves the peer service's routes (wire.go), and those
// added with HandlePeer.
func (n *Node) InternalHandler() http.Handler { return n.peerMux }

// peerRoutes are the node's own routes on the peer service.
func (n *Node) peerRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStream, n.serveStream)
	mux.HandleFunc("POST "+pathReadIndex, n.serveReadIndex)
	mux.HandleFunc("POST "+pathJoin, n.serveJoin)
	mux.HandleFunc("POST "+pathRemove, n.serveRemove)
	mux.HandleFunc("POST "+pathClass, n.serveClass)
	mux.HandleFunc("POST "+pathScript, n.serveScript)
	return mux
}

// serveReadIndex answers a follower's read-index request: the commit
// index captured now, after leadership is confirmed by a heartbeat round
// started after the capture.
func (n *Node) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	index, err := n.readIndex(r.Context())
	writePeerResult(w, resultOf(objects.TxnResult{}, index, readError(err)))
}

// serveJoin adds the member a follower asked for, if this node leads.
func (n *Node) serveJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	n.serveLeaderCall(w, r, &req, func() error { return n.Join(r.Context(), req.ID, req.RaftAddr, req.HTTPAddr) })
}

// serveRemove removes the member a follower asked for, if this node leads.
func (n *Node) serveRemove(w http.ResponseWriter, r *http.Request) {
	var req removeRequest
	n.serveLeaderCall(w, r, &req, func() error { return n.Remove(r.Context(), req.ID) })
}

// serveLeaderCall decodes a peer request into req and, on the leader,
// answers call's outcome; elsewhere ErrNotLeader, so that a request never
// travels on from a node that lost its leadership.
func (n *Node) serveLeaderCall(w http.ResponseWriter, r *http.Request, req any, call func() error) {
	if err := readPeerBody(r, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n.raft.State() != raft.Leader {
		writePeerResult(w, resultOf(objects.TxnResult{}, 0, ErrNotLeader))
		return
	}
	writePeerResult(w, resultOf(objects.TxnResult{}, 0, call()))
}

func readPeerBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxPeerBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxPeerBody {
		return errors.New("peer request too large")
	}
	if err := fsm.WellFormed(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

func writePeerResult(w http.ResponseWriter, res forwardedResult) { writePeerAnswer(w, &res) }

// writePeerAnswer writes a one-shot route's answer as msgpack.
func writePeerAnswer(w http.ResponseWriter, res any) {
	b, err := msgpack.Marshal(res)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	w.Write(b)
}

// peerClient makes the peer service's one-shot calls (read index, join,
// remove) to another node over PeerNet, with pooled connections.
type peerClient struct {
	hc *http.Client
}

// newPeerClient keeps up to idle connections to each peer alive.
func newPeerClient(pn PeerNet, idle int) *peerClient {
	return &peerClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return pn.DialPeer(ctx, raft.ServerAddress(addr))
		},
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// errUnsent wraps the error of a peer call whose request no attempt
// wrote: the peer cannot have acted on it.
var errUnsent = errors.New("request not sent")

// call posts body to path at addr and decodes the result. An error that
// happens before the request could have been sent wraps errUnsent; once
// it may have been, the caller decides (a read index is safe to call not
// applied; a command is outcome unknown: sentError).
func (pc *peerClient) call(ctx context.Context, addr raft.ServerAddress, path string, body any) (forwardedResult, error) {
	var res forwardedResult
	if err := pc.post(ctx, addr, path, body, &res); err != nil {
		return forwardedResult{}, err
	}
	return res, nil
}

// post is call for a route whose answer is another type than
// forwardedResult: it decodes the answer into answer.
func (pc *peerClient) post(ctx context.Context, addr raft.ServerAddress, path string, body, answer any) error {
	b, err := msgpack.Marshal(body)
	if err != nil {
		return err
	}
	var wrote atomic.Bool // by any attempt: the transport may retry
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+string(addr)+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/msgpack")
	resp, err := pc.hc.Do(req)
	if err != nil {
		if !wrote.Load() {
			return fmt.Errorf("%w: %w", errUnsent, err)
		}
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("peer answered %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	// An answer cut off at the limit, or one declaring more than it
	// holds, must not size a slice by the declaration (fsm.WellFormed).
	if err := fsm.WellFormed(rb); err != nil {
		return fmt.Errorf("peer answer: %w", err)
	}
	if err := msgpack.Unmarshal(rb, answer); err != nil {
		return fmt.Errorf("peer answer: %w", err)
	}
	return nil
}

func (pc *peerClient) close() { pc.hc.CloseIdleConnections() }
