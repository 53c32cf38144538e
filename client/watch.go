package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dobj/dobj/objects"
)

// WatchEvent is one change of a watched object: what the log entry at
// Index did to its keys (a new value, or Deleted).
type WatchEvent struct {
	Index   uint64           `json:"index"`
	Object  string           `json:"object"`
	Changes []objects.Change `json:"changes"`
}

// WatchOptions shape a watch.
type WatchOptions struct {
	// Prefix keeps only keys starting with it.
	Prefix string
	// Since resumes after this index (as read from X-Dobj-Index or a
	// WatchEvent); 0 starts at the newest index the node has seen.
	Since uint64
	// Fallbacks are other nodes' URLs to resume on, in turn, when the
	// current one cannot serve (it is down, knows no leader, lags).
	Fallbacks []string
	// OnReconnect, if set, hears why the stream ended and where it
	// resumes; the watch goes on.
	OnReconnect func(url string, after uint64, cause error)
}

// GoneError is a 410: the node's history no longer reaches back to the
// index a watch resumes after. Read the object again, then watch from the
// index of that read (or from Oldest, accepting the gap).
type GoneError struct {
	Since  uint64
	Oldest uint64
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("watch: the node's history no longer reaches back to index %d (oldest: %d)", e.Since, e.Oldest)
}

// CutError is how a node ended a stream: Reason is slow, reset, no-leader,
// lagging or shutdown (see GET /<name>/watch).
type CutError struct {
	Reason      string `json:"reason"`
	Detail      string `json:"detail"`
	ResumeAfter uint64 `json:"resume_after"`
}

func (e *CutError) Error() string { return "watch cut: " + e.Reason + ": " + e.Detail }

// watchIdle is how long a stream may be silent before the client takes it
// for dead: three of the server's 10 s pings.
const watchIdle = 35 * time.Second

// errStop wraps fn's error so that Watch returns it as it is.
type errStop struct{ err error }

func (e *errStop) Error() string { return e.err.Error() }

// Watch follows the object's changes, calling fn with each in index order,
// once, until ctx is done, fn returns an error (returned as is), or the
// watch cannot resume (*GoneError, or another 4xx as *Error). When a
// stream ends otherwise (the node cut it, died, lost its leader) Watch
// reconnects, moving to the next of Fallbacks, and resumes after the last
// index it delivered, so that nothing is missed or repeated.
func (c *Client) Watch(ctx context.Context, name string, o WatchOptions, fn func(WatchEvent) error) error {
	urls := append([]string{c.base}, o.Fallbacks...)
	hc := *c.hc
	hc.Timeout = 0 // a stream lasts as long as the watch
	since, from := o.Since, o.Since > 0
	wait := 50 * time.Millisecond
	for i := 0; ; {
		base := strings.TrimRight(urls[i%len(urls)], "/")
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		delivered := false
		err := c.watchOnce(ctx, &hc, base, name, o.Prefix, &since, &from, func(e WatchEvent) error {
			delivered = true
			return fn(e)
		})
		var stop *errStop
		var gone *GoneError
		var he *Error
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &stop):
			return stop.err
		case errors.As(err, &gone):
			return gone
		case errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusTooManyRequests && he.Status != http.StatusRequestTimeout:
			return he
		}
		var cut *CutError
		if errors.As(err, &cut) && cut.Reason == "slow" {
			wait = 0 // the same node, at once: it cut us only for falling behind
		} else {
			i++
			if delivered {
				wait = 50 * time.Millisecond
			} else {
				wait = min(max(2*wait, 50*time.Millisecond), 2*time.Second)
			}
		}
		if o.OnReconnect != nil {
			o.OnReconnect(urls[i%len(urls)], since, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// watchOnce follows one stream until it ends; since and from advance with
// what it delivers.
func (c *Client) watchOnce(ctx context.Context, hc *http.Client, base, name, prefix string, since *uint64, from *bool, fn func(WatchEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.openWatch(ctx, hc, base, name, prefix, *since, *from)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A silent stream is a dead one: the server pings every 10 s.
	idle := time.AfterFunc(watchIdle, cancel)
	defer idle.Stop()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		event, data, err := readEvent(r, idle)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("watch stream silent for %v: %w", watchIdle, err)
			}
			return fmt.Errorf("watch stream: %w", err)
		}
		if err := handleEvent(event, data, since, from, fn); err != nil {
			return err
		}
	}
}

// openWatch starts a stream of the object's changes at base, resuming
// after since when from is set. An answer other than 200 is its error: a
// *GoneError for a 410, else the *Error of its problem+json.
func (c *Client) openWatch(ctx context.Context, hc *http.Client, base, name, prefix string, since uint64, from bool) (*http.Response, error) {
	u := base + objectPath(name, "watch")
	if prefix != "" {
		u += "?" + url.Values{"prefix": {prefix}}.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodGet, u, nil, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return nil, err
	}
	if from {
		// The standard resume of an event stream; the server reads it
		// as it reads ?since=.
		req.Header.Set("Last-Event-ID", strconv.FormatUint(since, 10))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusGone {
		var g struct {
			OldestIndex uint64 `json:"oldest_index"`
		}
		json.Unmarshal(data, &g)
		return nil, &GoneError{Since: since, Oldest: g.OldestIndex}
	}
	return nil, problemError(resp.StatusCode, data)
}

// readEvent reads one server-sent event: its lines up to the blank line
// that ends it, their "event" and "data" fields kept (a ping or a comment
// gives an empty event). Each line read pushes the idle timer back.
func readEvent(r *bufio.Reader, idle *time.Timer) (event, data string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		idle.Reset(watchIdle)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return event, data, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data += value
		}
	}
}

// handleEvent acts on one event of the stream: a ready event fixes where
// a new watch starts, a change newer than since goes to fn (whose error
// comes back as *errStop), a cut ends the stream with its *CutError.
func handleEvent(event, data string, since *uint64, from *bool, fn func(WatchEvent) error) error {
	switch event {
	case "ready":
		var rd struct {
			Index uint64 `json:"index"`
		}
		if err := json.Unmarshal([]byte(data), &rd); err != nil {
			return fmt.Errorf("watch: bad ready event: %w", err)
		}
		if !*from {
			*since, *from = rd.Index, true
		}
	case "change":
		var e WatchEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("watch: bad change event: %w", err)
		}
		if e.Index > *since { // a resume never repeats, even across nodes
			if err := fn(e); err != nil {
				return &errStop{err}
			}
			*since = e.Index
		}
	case "cut":
		cut := &CutError{}
		if err := json.Unmarshal([]byte(data), cut); err != nil {
			return fmt.Errorf("watch: bad cut event: %w", err)
		}
		return cut
	}
	return nil
}

// ObjectsOptions page through objects: names with Prefix, after
// StartAfter, at most Limit (0: the server's maximum).
type ObjectsOptions struct {
	Prefix     string
	StartAfter string
	Limit      int
	Stale      bool
}

// ObjectInfo is one object of a listing.
type ObjectInfo struct {
	Name  string `json:"name"`
	Keys  int    `json:"keys"`
	Bytes int64  `json:"bytes"`
}

// ObjectsPage is one page of GET /_objects.
type ObjectsPage struct {
	Objects        []ObjectInfo `json:"objects"`
	More           bool         `json:"more"`
	NextStartAfter string       `json:"next_start_after,omitempty"`
}

// Objects lists one page of objects in name order.
func (c *Client) Objects(ctx context.Context, o ObjectsOptions) (ObjectsPage, error) {
	q := readQuery(ReadOptions{Stale: o.Stale})
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.StartAfter != "" {
		q.Set("start_after", o.StartAfter)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out ObjectsPage
	_, err := c.do(ctx, http.MethodGet, "/_objects", q, nil, nil, &out)
	return out, err
}
