package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dobj/dobj/watch"
	"github.com/labstack/echo/v4"
)

// GET /<name>/watch is a Server-Sent Events stream of the object's
// changes, served from this node's own applied state:
//
//	event: ready   id: the index the stream resumes after; data {"index","oldest"}
//	event: change  id: the Raft index; data {"index","object","changes":[{"key","value"|"deleted"}]}
//	event: cut     data {"reason","detail","resume_after"}; the stream then ends
//
// Last-Event-ID: N or ?since=N resume exactly after index N (410 Gone with
// "oldest_index" when the history no longer reaches back to N); without
// either, the stream starts at the newest index this node has seen.
// ?prefix=P keeps only keys starting with P. A cut says why (slow: the
// watcher fell behind; reset: a snapshot replaced the state, read the
// object again; no-leader or lagging: this node cannot vouch for being
// current, try another; shutdown) and where to resume.
const routeWatch = "/:name/watch"

// Watch stream timing.
const (
	// watchPing is how often an idle stream carries a comment, so that
	// proxies keep it and a client can tell a dead connection (the Go
	// client gives up after three missed pings).
	watchPing = 10 * time.Second
	// watchWriteTimeout bounds one write to a watcher that stopped
	// reading: its stream ends rather than holding a goroutine.
	watchWriteTimeout = 10 * time.Second
	// watchFlushEvery is how many events a stream writes before it
	// flushes when they come faster than it writes.
	watchFlushEvery = 256
)

var (
	// errNoLeader and errLagging cut watches of a node that cannot tell
	// whether it is current.
	errNoLeader = errors.New("no leader known")
	errLagging  = errors.New("behind the leader")
)

// cutReasons names each way a watch ends, for the cut event.
var cutReasons = []struct {
	err    error
	reason string
	detail string
}{
	{watch.ErrSlow, "slow", "the watcher did not keep up; resume after resume_after"},
	{watch.ErrReset, "reset", "a snapshot replaced this node's state; read the object again, then watch"},
	{watch.ErrClosed, "shutdown", "the node is shutting down; resume on another node"},
	{errNoLeader, "no-leader", "this node knows no leader and may be behind; resume on another node"},
	{errLagging, "lagging", "this node is behind the leader; resume on another node"},
}

// goneProblem is the 410 answer: problem+json with the oldest index a
// watch can resume after.
type goneProblem struct {
	problem
	OldestIndex uint64 `json:"oldest_index"`
}

// watchSince reads the resume point. Last-Event-ID wins over ?since: a
// browser's EventSource reconnects to the same URL, ?since and all, and
// sends the id of the last event it got, which is the newer of the two.
func watchSince(q url.Values, lastEventID string) (since uint64, from bool, err error) {
	raw, name := lastEventID, "Last-Event-ID"
	if raw == "" {
		raw, name = q.Get("since"), "since"
	}
	if raw == "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseUint(raw, 10, 64)
	if perr != nil {
		return 0, false, badRequest("%s must be a log index (a non-negative integer)", name)
	}
	return n, true, nil
}

// watchObject serves GET /<name>/watch.
func (s *Server) watchObject(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	q, err := query(c)
	if err != nil {
		return err
	}
	prefix := q.Get("prefix")
	if len(prefix) > s.cfg.MaxKeyBytes {
		return tooLarge("prefix is longer than %d bytes", s.cfg.MaxKeyBytes)
	}
	if !utf8.ValidString(prefix) {
		return badRequest("prefix is not valid UTF-8")
	}
	since, from, err := watchSince(q, c.Request().Header.Get("Last-Event-ID"))
	if err != nil {
		return err
	}
	if cause := s.watchHealth.Load(); cause != nil {
		// The check runs once a second: a leader found since counts now.
		if *cause != errNoLeader || s.node.Status().Leader.ID == "" {
			return &apiError{http.StatusServiceUnavailable, "this node cannot serve watches now: " + (*cause).Error()}
		}
	}
	sub, err := s.cfg.Watches.Subscribe(name, since, from, prefix)
	var gone *watch.GoneError
	switch {
	case errors.As(err, &gone):
		p := goneProblem{problem: newProblem(http.StatusGone, "the history no longer reaches back to index "+
			strconv.FormatUint(gone.Since, 10)+"; read the object again and watch from its index, or resume after oldest_index"),
			OldestIndex: gone.Oldest}
		p.Type = "gone"
		b, _ := json.Marshal(p)
		return c.Blob(http.StatusGone, "application/problem+json", b)
	case errors.Is(err, watch.ErrClosed):
		return &apiError{http.StatusServiceUnavailable, "the node is shutting down"}
	case errors.Is(err, watch.ErrTooMany):
		return &apiError{http.StatusServiceUnavailable, "this node has as many watches open as it takes (--max-watches); try another"}
	case err != nil:
		return err
	}
	defer sub.Close()
	oldest, _ := s.cfg.Watches.Bounds()
	return s.stream(c, sub, oldest)
}

// stream writes sub's events to the client until the hub cuts it or the
// client leaves.
func (s *Server) stream(c echo.Context, sub *watch.Sub, oldest uint64) error {
	res := c.Response()
	h := res.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	setIndex(c, sub.Since())
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	w := bufio.NewWriterSize(res, 4<<10) // events are small; a thousand streams hold a thousand of these
	last := sub.Since()
	// The write deadline moves forward at most once a second: setting it
	// costs a timer update, and a flush per event is the common case.
	var deadline time.Time
	flush := func() error {
		if now := time.Now(); deadline.Sub(now) < watchWriteTimeout-time.Second {
			deadline = now.Add(watchWriteTimeout)
			rc.SetWriteDeadline(deadline)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	ready, _ := json.Marshal(map[string]uint64{"index": last, "oldest": oldest})
	w.WriteString("retry: 1000\nevent: ready\nid: " + strconv.FormatUint(last, 10) + "\ndata: ")
	w.Write(ready)
	w.WriteString("\n\n")
	send := func(e *watch.Event) {
		if data := e.Data(sub.Prefix()); data != nil {
			w.WriteString("id: " + strconv.FormatUint(e.Index, 10) + "\nevent: change\ndata: ")
			w.Write(data)
			w.WriteString("\n\n")
		}
		last = e.Index
	}
	for {
		page, done := sub.Backlog(watchFlushEvery)
		for _, e := range page {
			send(e)
		}
		if err := flush(); err != nil {
			return nil // the client left
		}
		if done {
			break
		}
	}
	ping := time.NewTicker(watchPing)
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case e := <-sub.C():
			send(e)
			for n := 1; n < watchFlushEvery && len(sub.C()) > 0; n++ {
				send(<-sub.C())
			}
		case <-sub.Done():
			for len(sub.C()) > 0 {
				send(<-sub.C())
			}
			s.writeCut(w, sub.Err(), last)
			flush()
			return nil
		case <-ping.C:
			w.WriteString(": ping\n\n")
		case <-ctx.Done():
			return nil
		}
		if err := flush(); err != nil {
			return nil
		}
	}
}

// writeCut writes the event that ends a stream.
func (s *Server) writeCut(w *bufio.Writer, err error, last uint64) {
	cut := struct {
		Reason      string `json:"reason"`
		Detail      string `json:"detail"`
		ResumeAfter uint64 `json:"resume_after"`
	}{Reason: "closed", Detail: "the stream ended", ResumeAfter: last}
	for _, r := range cutReasons {
		if errors.Is(err, r.err) {
			cut.Reason, cut.Detail = r.reason, r.detail
			break
		}
	}
	data, _ := json.Marshal(cut)
	w.WriteString("event: cut\ndata: ")
	w.Write(data)
	w.WriteString("\n\n")
}

// checkWatchHealth runs every interval until stop is closed: while the
// node knows no leader, or has not applied within lagTicks what was
// committed, it refuses new watches and cuts the open ones, so that a
// watcher learns of it and resumes elsewhere instead of waiting on a
// node that may have fallen silent.
func (s *Server) checkWatchHealth(stop <-chan struct{}, interval time.Duration) {
	const lagTicks = 5
	t := time.NewTicker(interval)
	defer t.Stop()
	var commits []uint64 // the commit index at each of the last ticks
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st := s.node.Status()
		var cause error
		switch {
		case st.Leader.ID == "":
			cause = errNoLeader
		case len(commits) == lagTicks && st.AppliedIndex < commits[0]:
			cause = errLagging
		}
		commits = append(commits, st.CommitIndex)
		if len(commits) > lagTicks {
			commits = commits[1:]
		}
		if cause == nil {
			s.watchHealth.Store(nil)
			continue
		}
		if s.watchHealth.Swap(&cause) == nil {
			s.log.Warn("cutting watches", "cause", cause, "open", s.cfg.Watches.Open())
		}
		s.cfg.Watches.CutAll(cause)
	}
}
