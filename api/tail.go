package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// GET /_scripts/<name>/tail (admin) is a Server-Sent Events stream of the
// console lines this node logs for the script — its Worker's, run here,
// and its objects', run here when this node leads — as they are logged:
//
//	event: ready    data: {"node":"n1"}              once, first
//	event: log      data: host.TailLine's JSON       a line
//	event: dropped  data: {"dropped":N}              N lines so far were dropped:
//	                                                 the client fell behind
//
// Only this node's lines: dobj tail follows every member. Nothing is kept
// for later; a line logged while no one follows is only in the node's log.
// A tail is a long-lived stream, counted as a watch is (streams.go).
const routeTail = "/_scripts/:script/tail"

// tailScript serves GET /_scripts/<name>/tail.
func (s *Server) tailScript(c echo.Context) error {
	script := c.Param("script")
	if !scriptNamePattern.MatchString(script) {
		return badRequest("%q is not a script name", script)
	}
	sub := s.cfg.Tail.Subscribe(script)
	defer sub.Close()
	res := c.Response()
	h := res.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	w := bufio.NewWriterSize(res, 4<<10)
	flush := func() error {
		rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
		if err := w.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	ready, _ := json.Marshal(map[string]string{"node": s.cfg.NodeID})
	writeEvent(w, "ready", ready)
	ping := time.NewTicker(watchPing)
	defer ping.Stop()
	var dropped uint64
	for {
		if err := flush(); err != nil {
			return nil // the client left
		}
		select {
		case l := <-sub.C():
			b, _ := json.Marshal(l)
			writeEvent(w, "log", b)
		case <-ping.C:
			w.WriteString(": ping\n\n")
		case <-c.Request().Context().Done():
			return nil
		}
		if n := sub.Dropped(); n != dropped {
			dropped = n
			writeEvent(w, "dropped", []byte(`{"dropped":`+strconv.FormatUint(n, 10)+`}`))
		}
	}
}

// writeEvent writes one server-sent event whose data is one line.
func writeEvent(w *bufio.Writer, event string, data []byte) {
	w.WriteString("event: " + event + "\ndata: ")
	w.Write(data)
	w.WriteString("\n\n")
}
