package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/metrics"
	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/watch"
)

func change(index uint64, object string, kv ...string) []fsm.ObjectChange {
	c := fsm.ObjectChange{Index: index, Object: object}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			c.Changes = append(c.Changes, objects.Change{Key: kv[i], Deleted: true})
		} else {
			c.Changes = append(c.Changes, objects.Change{Key: kv[i], Value: json.RawMessage(kv[i+1])})
		}
	}
	return []fsm.ObjectChange{c}
}

// stream opens a watch and returns its events as "event id data" lines.
func stream(t *testing.T, url string, header ...string) (*http.Response, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev, id, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != "" {
					ch <- strings.Join(strings.Fields(ev+" "+id), " ") + " " + data
				}
				ev, id, data = "", "", ""
			case strings.HasPrefix(line, "event: "):
				ev = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			}
		}
	}()
	return resp, ch
}

func expectEvent(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatalf("stream ended; want %s", want)
		}
		if got != want {
			t.Fatalf("event %s\nwant  %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no event within 5s; want %s", want)
	}
}

func TestWatchStream(t *testing.T) {
	hub := watch.NewHub(watch.Options{})
	ts := serve(t, Config{NodeID: "n1", Watches: hub}, newFakeNode())
	hub.ObjectsChanged(change(3, "room", "a/1", "1"))
	hub.ObjectsChanged(change(4, "other", "a/1", "1"))
	hub.ObjectsChanged(change(5, "room", "b", "true", "a/2", ""))

	resp, events := stream(t, ts.URL+"/room/watch?since=2&prefix=a/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Dobj-Index") != "2" {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	expectEvent(t, events, `ready 2 {"index":2,"oldest":0}`)
	expectEvent(t, events, `change 3 {"index":3,"object":"room","changes":[{"key":"a/1","value":1}]}`)
	expectEvent(t, events, `change 5 {"index":5,"object":"room","changes":[{"key":"a/2","deleted":true}]}`)
	hub.ObjectsChanged(change(6, "room", "b", "2"))     // filtered out by the prefix
	hub.ObjectsChanged(change(7, "room", "a/3", `"x"`)) // live
	expectEvent(t, events, `change 7 {"index":7,"object":"room","changes":[{"key":"a/3","value":"x"}]}`)

	// Last-Event-ID wins over ?since (a browser reconnects to the same URL).
	_, resumed := stream(t, ts.URL+"/room/watch?since=2", "Last-Event-ID", "5")
	expectEvent(t, resumed, `ready 5 {"index":5,"oldest":0}`)
	expectEvent(t, resumed, `change 6 {"index":6,"object":"room","changes":[{"key":"b","value":2}]}`)

	// Without a resume point: from the newest index on.
	_, fresh := stream(t, ts.URL+"/room/watch")
	expectEvent(t, fresh, `ready 7 {"index":7,"oldest":0}`)

	hub.Close()
	expectEvent(t, fresh, `cut {"reason":"shutdown","detail":"the node is shutting down; resume on another node","resume_after":7}`)
}

func TestWatchRefusals(t *testing.T) {
	hub := watch.NewHub(watch.Options{MaxEvents: 2})
	ts := serve(t, Config{NodeID: "n1", Watches: hub, MaxKeyBytes: 8}, newFakeNode())
	for i := uint64(1); i <= 5; i++ {
		hub.ObjectsChanged(change(i, "room", "k", strconv.FormatUint(i, 10)))
	}
	tests := []struct {
		name   string
		path   string
		header []string
		status int
		typ    string
	}{
		{"since not a number", "/room/watch?since=abc", nil, 400, "bad-request"},
		{"negative since", "/room/watch?since=-1", nil, 400, "bad-request"},
		{"Last-Event-ID not a number", "/room/watch", []string{"Last-Event-ID", "x"}, 400, "bad-request"},
		{"reserved name", "/_room/watch", nil, 400, "bad-request"},
		{"prefix too long", "/room/watch?prefix=123456789", nil, 413, "too-large"},
		{"past the history", "/room/watch?since=1", nil, 410, "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts.URL, "GET", tt.path, "", tt.header...)
			expectProblem(t, r, tt.status, tt.typ)
			if tt.status == 410 {
				var g struct {
					OldestIndex uint64 `json:"oldest_index"`
				}
				if json.Unmarshal([]byte(r.body), &g); g.OldestIndex != 3 {
					t.Fatalf("oldest_index = %d, want 3 (body %s)", g.OldestIndex, r.body)
				}
			}
		})
	}
}

func TestWatchCutAndRefusedWithoutLeader(t *testing.T) {
	hub := watch.NewHub(watch.Options{})
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1", Watches: hub, WatchCheckInterval: 10 * time.Millisecond}, node)
	_, events := stream(t, ts.URL+"/room/watch")
	expectEvent(t, events, `ready 0 {"index":0,"oldest":0}`)
	node.mu.Lock()
	node.leaderID = ""
	node.mu.Unlock()
	expectEvent(t, events, `cut {"reason":"no-leader","detail":"this node knows no leader and may be behind; resume on another node","resume_after":0}`)
	expectProblem(t, call(t, ts.URL, "GET", "/room/watch", ""), 503, "unavailable")
}

func TestWatchCutWhenTheNodeLags(t *testing.T) {
	hub := watch.NewHub(watch.Options{})
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1", Watches: hub, WatchCheckInterval: 5 * time.Millisecond}, node)
	_, events := stream(t, ts.URL+"/room/watch")
	expectEvent(t, events, `ready 0 {"index":0,"oldest":0}`)
	node.mu.Lock()
	node.lag = 100 // commits it does not apply
	node.mu.Unlock()
	expectEvent(t, events, `cut {"reason":"lagging","detail":"this node is behind the leader; resume on another node","resume_after":0}`)
	expectProblem(t, call(t, ts.URL, "GET", "/room/watch", ""), 503, "unavailable")
	node.mu.Lock()
	node.lag = 0
	node.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for { // caught up: served again
		if resp, _ := stream(t, ts.URL+"/room/watch"); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still refused 5s after catching up")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func TestListObjects(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1"}, node)
	for _, name := range []string{"a", "b-1", "b-2", "b-3"} {
		expectOK(t, call(t, ts.URL, "POST", "/"+name+"/increment?by=10", ""), `{"name":"`+name+`","value":10}`+"\n")
	}
	expectOK(t, call(t, ts.URL, "GET", "/_objects?prefix=b-&limit=2", ""),
		`{"objects":[{"name":"b-1","keys":1,"bytes":7},{"name":"b-2","keys":1,"bytes":7}],"more":true,"next_start_after":"b-2"}`+"\n")
	expectOK(t, call(t, ts.URL, "GET", "/_objects?prefix=b-&start_after=b-2&consistency=stale", ""),
		`{"objects":[{"name":"b-3","keys":1,"bytes":7}],"more":false}`+"\n")
	for _, q := range []string{"limit=0", "limit=x", "consistency=maybe", "prefix=" + strings.Repeat("p", 300)} {
		expectProblem(t, call(t, ts.URL, "GET", "/_objects?"+q, ""), 400, "bad-request")
	}
}

func TestConsoleAndMetricsRoutes(t *testing.T) {
	m := metrics.New()
	ts := serve(t, Config{NodeID: "n1", Metrics: m}, newFakeNode())
	page := call(t, ts.URL, "GET", "/", "")
	if page.status != 200 || !strings.Contains(page.header.Get("Content-Type"), "text/html") || !strings.Contains(page.body, "/_console/app.js") {
		t.Fatalf("console page: %d %s", page.status, page.header.Get("Content-Type"))
	}
	for _, f := range []string{"app.js", "style.css"} {
		if r := call(t, ts.URL, "GET", "/_console/"+f, ""); r.status != 200 || len(r.body) < 100 {
			t.Fatalf("/_console/%s: %d", f, r.status)
		}
	}
	if r := call(t, ts.URL, "GET", "/_cluster/status", ""); r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("status is not readable from another node's console")
	}
	call(t, ts.URL, "GET", "/card-1", "")
	call(t, ts.URL, "GET", "/card-1/storage/k", "")
	scrape := call(t, ts.URL, "GET", "/metrics", "")
	for _, want := range []string{
		`dobj_http_requests_total{code="200",method="GET",route="/:name"} 1`,
		`dobj_http_requests_total{code="404",method="GET",route="/:name/storage/*"} 1`,
		`dobj_http_request_duration_seconds_count{method="GET",route="/:name"} 1`,
	} {
		if !strings.Contains(scrape.body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// TestListObjectsHidesClassObjectsFromNonAdmins: class objects' storage
// needs admin, and so do their names and sizes in /_objects.
func TestListObjectsHidesClassObjectsFromNonAdmins(t *testing.T) {
	toks, err := auth.Parse(strings.NewReader("read r\nadmin a\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := newFakeNode()
	for _, name := range []string{"a", fsm.ClassObject("Chat", "room"), "z"} {
		if _, _, err := node.Write(context.Background(), name, objects.Txn{Success: []objects.Op{{Op: "increment", Key: "value", By: 1}}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	ts := serve(t, Config{Auth: toks}, node)
	for _, tt := range []struct{ token, want string }{
		{"r", `{"objects":[{"name":"a","keys":1,"bytes":6},{"name":"z","keys":1,"bytes":6}],"more":false}` + "\n"},
		{"a", `{"objects":[{"name":"_do/Chat/room","keys":1,"bytes":6},{"name":"a","keys":1,"bytes":6},{"name":"z","keys":1,"bytes":6}],"more":false}` + "\n"},
	} {
		expectOK(t, call(t, ts.URL, "GET", "/_objects", "", "Authorization", "Bearer "+tt.token), tt.want)
	}
}
