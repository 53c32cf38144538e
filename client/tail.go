package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TailLine is one console line of a script, as GET
// /_scripts/<name>/tail streams it (host.TailLine's JSON).
type TailLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Node    string    `json:"node"`
	Script  string    `json:"script"`
	Class   string    `json:"class,omitempty"`
	Object  string    `json:"object,omitempty"`
}

// TailEvent is one event of a tail stream: Ready (the node now follows
// the script; Node names it), a Line, or Dropped (lines the node dropped
// so far because this client fell behind).
type TailEvent struct {
	Ready   bool
	Node    string
	Line    *TailLine
	Dropped uint64
}

// At is a copy of c that talks to the node at baseURL, with c's token
// and TLS settings.
func (c *Client) At(baseURL string) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	cc := *c
	cc.base = strings.TrimRight(baseURL, "/")
	return &cc
}

// Tail follows the console lines of script that this client's node logs
// (admin), calling fn for each event, until ctx is done, the stream ends
// or fn fails (its error is returned). It does not reconnect.
func (c *Client) Tail(ctx context.Context, script string, fn func(TailEvent) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.base+"/_scripts/"+url.PathEscape(script)+"/tail", nil,
		http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return err
	}
	hc := *c.hc
	hc.Timeout = 0 // a stream lasts as long as the tail
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return problemError(resp.StatusCode, data)
	}
	idle := time.AfterFunc(watchIdle, func() { resp.Body.Close() })
	defer idle.Stop()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		event, data, err := readEvent(r, idle)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("tail stream: %w", err)
		}
		var e TailEvent
		switch event {
		case "ready":
			var rd struct {
				Node string `json:"node"`
			}
			err = json.Unmarshal([]byte(data), &rd)
			e = TailEvent{Ready: true, Node: rd.Node}
		case "log":
			e.Line = new(TailLine)
			err = json.Unmarshal([]byte(data), e.Line)
		case "dropped":
			err = json.Unmarshal([]byte(data), &struct {
				Dropped *uint64 `json:"dropped"`
			}{&e.Dropped})
		default:
			continue // a ping
		}
		if err != nil {
			return fmt.Errorf("tail stream: bad %s event: %w", event, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
