package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

const (
	requestTimeout = 3 * time.Second // one client request; longer than the nodes' --apply-timeout
	adminTimeout   = 2 * time.Second // status, digest, partition
	pollPeriod     = 100 * time.Millisecond
)

// node is one member of the cluster under test: its HTTP clients and, when
// check started it, its process.
type node struct {
	id    string
	url   string
	c     *client.Client // workload requests
	admin *client.Client // status, digest, partition, ready
	proc  *launch.Node   // nil when attached with --urls
	// workerURL is its Worker listener (--worker-addr), when check
	// started it for the worker workload.
	workerURL string
}

// newNode is the node at url; opts (a secure cluster's token and CA) go
// to its clients.
func newNode(id, url string, proc *launch.Node, opts ...client.Option) *node {
	return &node{
		id:    id,
		url:   url,
		c:     client.New(url, append([]client.Option{client.WithTimeout(requestTimeout)}, opts...)...),
		admin: client.New(url, append([]client.Option{client.WithTimeout(adminTimeout)}, opts...)...),
		proc:  proc,
	}
}

// up reports whether the node may answer: attached nodes always are;
// started ones when running and not paused.
func (n *node) up() bool {
	return n.proc == nil || (n.proc.Running() && !n.proc.Paused())
}

func (n *node) close() {
	n.c.CloseIdleConnections()
	n.admin.CloseIdleConnections()
}

// classify maps a request's error to its outcome: nil is OK; otherwise the
// client says whether the request may have been applied (a 504, or a
// transport error once any attempt was written) or definitely was not.
func classify(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case client.Unknown(err) && !notSent(err):
		return Unknown
	default:
		return Fail
	}
}

// leader asks every node that is up for its status and returns the node
// that says it leads in the highest term, or nil.
func leader(ctx context.Context, nodes []*node) *node {
	var best *node
	var term uint64
	for _, n := range nodes {
		if !n.up() {
			continue
		}
		st, err := n.admin.Status(ctx)
		if err != nil || st.State != "leader" {
			continue
		}
		if best == nil || st.Term > term {
			best, term = n, st.Term
		}
	}
	return best
}

// waitReady polls /_ready on every node until all answer 200 or timeout.
// It fails at once when a node check started has exited, with how it
// exited and the end of its log (where its panic or error is).
func waitReady(ctx context.Context, nodes []*node, timeout time.Duration) error {
	var notReady []string
	var gone error
	if poll(ctx, timeout, func(ctx context.Context) bool {
		notReady = nil
		for _, n := range nodes {
			if gone = n.exited(); gone != nil {
				return true
			}
			if ok, _ := n.admin.Ready(ctx); !ok {
				notReady = append(notReady, n.id)
			}
		}
		return len(notReady) == 0
	}) {
		return gone
	}
	return fmt.Errorf("not ready after %v: %s", timeout, strings.Join(notReady, ", "))
}

// exitTailLines is how much of an exited node's log an error carries.
const exitTailLines = 40

// exited is nil while the node may still answer: attached, or started
// and running (paused counts). For a started node whose process has
// exited, it says how (exit status or signal, and the panic or error it
// wrote) and ends with the last lines of its log.
func (n *node) exited() error {
	if n.proc == nil || n.proc.PID() == 0 || n.proc.Running() {
		return nil
	}
	how := "exit status 0"
	if err := n.proc.Err(); err != nil {
		how = err.Error()
	}
	if cause := n.proc.ExitCause(); cause != "" {
		how += ": " + cause
	}
	return fmt.Errorf("%s (pid %d) exited: %s; the end of its log %s:\n%s",
		n.id, n.proc.PID(), how, n.proc.LogPath, n.proc.Tail(exitTailLines))
}

// waitConverged polls every node's state digest until all are equal, or
// timeout; it returns the last digests seen (node id -> digest).
func waitConverged(ctx context.Context, nodes []*node, timeout time.Duration) (map[string]client.Digest, error) {
	var digests map[string]client.Digest
	var last []string // what each node answered last, for the error
	if poll(ctx, timeout, func(ctx context.Context) bool {
		digests = map[string]client.Digest{}
		last = last[:0]
		same := true
		var first string
		for i, n := range nodes {
			d, err := n.admin.Digest(ctx)
			if err != nil {
				same = false
				last = append(last, fmt.Sprintf("%s: %v", n.id, err))
				continue
			}
			last = append(last, fmt.Sprintf("%s: %.12s at index %d, %d keys", n.id, d.Digest, d.AppliedIndex, d.Keys))
			digests[n.id] = d
			if i == 0 {
				first = d.Digest
			} else if d.Digest != first {
				same = false
			}
		}
		return same && len(digests) == len(nodes)
	}) {
		return digests, nil
	}
	return digests, fmt.Errorf("state digests still differ after %v (%s)", timeout, strings.Join(last, "; "))
}

// poll calls try at once and then every pollPeriod until it returns true
// (poll then returns true) or timeout passes (false). try gets a context
// that ends with the timeout.
func poll(ctx context.Context, timeout time.Duration, try func(context.Context) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollPeriod)
	defer tick.Stop()
	for {
		if try(ctx) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// sleep waits d or until ctx is done; false if ctx ended it. It paces
// schedules and backoffs, never stands in for a condition.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
