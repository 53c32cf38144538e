package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
)

func getenvOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantStdout string
		wantStderr string
	}{
		{"no verb", nil, "usage: dobj VERB", "", "dobj serve"},
		{"unknown verb", []string{"nope"}, `unknown verb "nope"`, "", "dobj incr"},
		{"help", []string{"help"}, "", "dobj dev", ""},
		{"serve help", []string{"serve", "--help"}, "", "-peers", ""},
		{"serve bad settings", []string{"serve", "--peers", "x"}, "serve: invalid value", "", ""},
		{"verb usage", []string{"put", "card-1"}, "usage: dobj put NAME KEY JSON", "", ""},
		{"bad url", []string{"get", "card-1", "--url", "127.0.0.1:8081"}, `--url "127.0.0.1:8081"`, "", ""},
		{"bad JSON", []string{"put", "c", "k", "{x"}, "not valid JSON", "", ""},
		{"unknown flag", []string{"incr", "c", "--nope"}, "usage: dobj incr: flag provided but not defined: -nope (dobj incr --help lists its flags)", "", ""},
		{"help of a verb", []string{"help", "bench"}, "", "-c, --clients int", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, getenvOf(nil), &out, &errOut)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("run(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantStdout) || !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Fatalf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantBy  int64
	}{
		{[]string{"card-1"}, []string{"card-1"}, 1},
		{[]string{"card-1", "--by", "5"}, []string{"card-1"}, 5},
		{[]string{"--by=5", "card-1", "k"}, []string{"card-1", "k"}, 5},
		{[]string{"a", "--by", "2", "b", "c"}, []string{"a", "b", "c"}, 2},
		{[]string{"a", "--", "-5", "--by"}, []string{"a", "-5", "--by"}, 1},
		{nil, nil, 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			by := fs.Int64("by", 1, "")
			pos, err := parseArgs(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tt.wantPos) || *by != tt.wantBy {
				t.Fatalf("got %q by=%d, want %q by=%d", pos, *by, tt.wantPos, tt.wantBy)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the goroutines of serve.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	freeMu.Lock()
	defer freeMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		// The kernel may hand a port it just freed out again: two calls
		// in a row (HTTP and Raft of one node) got the same one.
		if !handedOut[addr] {
			handedOut[addr] = true
			return addr
		}
	}
}

// handedOut are the addresses freeAddr gave, never given twice.
var (
	freeMu    sync.Mutex
	handedOut = map[string]bool{}
)

// startServe runs `serve` of a one-node cluster in this process, the way
// main does, and returns its URL and a stop function that cancels its
// context and returns run's error.
func startServe(t *testing.T, logs io.Writer) (url string, stop func() error) {
	t.Helper()
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	url = "http://" + httpAddr
	return url, runServe(t, logs, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr)
}

// errServeStopped is the cause runServe's stop ends serve's context
// with, as a signal would.
var errServeStopped = errors.New("the test stopped serve")

// runServe runs `serve` with args in this process, the way main does,
// waits until url answers /_ready, and returns a stop function that
// cancels its context and returns run's error.
func runServe(t *testing.T, logs io.Writer, url string, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), getenvOf(nil), io.Discard, logs)
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel(errServeStopped)
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("serve did not return within 20s of its context's end")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		if resp, err := http.Get(url + "/_ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not ready within 20s")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestServeAdvertisesReachableAddresses runs two nodes that listen on
// 127.0.0.1 and advertise localhost (tests keep to loopback; on several
// hosts the listen address is 0.0.0.0, whose defaults config's tests
// cover), and checks that each publishes the advertised addresses, not the
// bound ones: n1 its HTTP address, n2 both, its Raft one sent when it
// joins. A write through n2 then reaches the leader at its published
// address.
func TestServeAdvertisesReachableAddresses(t *testing.T) {
	_, p1, _ := net.SplitHostPort(freeAddr(t))
	_, p2, _ := net.SplitHostPort(freeAddr(t))
	r1, r2 := freeAddr(t), freeAddr(t)
	_, r2port, _ := net.SplitHostPort(r2)
	url1, url2 := "http://127.0.0.1:"+p1, "http://127.0.0.1:"+p2
	stop1 := runServe(t, io.Discard, url1, "--id", "n1", "--data-dir", t.TempDir(),
		"--http-addr", "127.0.0.1:"+p1, "--advertise-http", "localhost:"+p1,
		"--raft-addr", r1, "--peers", "n1="+r1)
	stop2 := runServe(t, io.Discard, url2, "--id", "n2", "--data-dir", t.TempDir(),
		"--http-addr", "127.0.0.1:"+p2, "--raft-addr", r2,
		"--advertise-http", "localhost:"+p2, "--advertise-raft", "localhost:"+r2port, "--join", url1)

	want := map[string][2]string{"n1": {r1, "localhost:" + p1}, "n2": {"localhost:" + r2port, "localhost:" + p2}}
	c := client.New(url1)
	defer c.CloseIdleConnections()
	var st client.Status
	deadline := time.Now().Add(20 * time.Second)
	for !sameMembers(st.Members, want) {
		if time.Now().After(deadline) {
			t.Fatalf("members %+v, want raft and http addresses %v", st.Members, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
		var err error
		if st, err = c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	resp, err := http.Post(url2+"/card-1/increment", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("increment through n2: status %d", resp.StatusCode)
	}
	if err := stop2(); err != nil {
		t.Errorf("stop n2: %v", err)
	}
	if err := stop1(); err != nil {
		t.Errorf("stop n1: %v", err)
	}
}

// sameMembers reports whether members are exactly want's ids, each with
// its raft and http address.
func sameMembers(members []client.Member, want map[string][2]string) bool {
	if len(members) != len(want) {
		return false
	}
	for _, m := range members {
		if want[m.ID] != [2]string{m.RaftAddr, m.HTTPAddr} {
			return false
		}
	}
	return true
}

// TestServeInProcess runs serve through run, serves a write, stops on the
// context's end without error, and logs JSON lines that all name the node.
func TestServeInProcess(t *testing.T) {
	var logs syncBuffer
	url, stop := startServe(t, &logs)

	resp, err := http.Post(url+"/card-1/increment?by=3", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name  string `json:"name"`
		Value int64  `json:"value"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || got.Name != "card-1" || got.Value != 3 {
		t.Fatalf("increment: %d %+v %v", resp.StatusCode, got, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve after its context ended: %v", err)
	}
	if _, err := http.Get(url + "/_health"); err == nil {
		t.Fatal("still serving after stop")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	// The stop line says what ended the context (main's: the signal).
	for _, want := range []string{`"msg":"serving"`, `"msg":"stopping: signal received","node":"n1","cause":"the test stopped serve"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		// Raft's lines come through the same handler (cluster's hclog
		// adapter): one shape, the node id on every line.
		if _, ok := m["@module"]; ok {
			t.Errorf("log line in hclog's own shape: %q", l)
		}
		if m["node"] != "n1" {
			t.Errorf("log line without the node id: %q", l)
		}
	}
}

// TestClientVerbsInProcess runs client verbs through run against an
// in-process node: readable JSON out, problems as "<status> <title>: <detail>".
func TestClientVerbsInProcess(t *testing.T) {
	url, _ := startServe(t, io.Discard)
	env := getenvOf(map[string]string{"DOBJ_URL": url})
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{[]string{"incr", "card-1", "--by", "4"}, "{\n  \"name\": \"card-1\",\n  \"value\": 4\n}\n", ""},
		{[]string{"decr", "card-1"}, "{\n  \"name\": \"card-1\",\n  \"value\": 3\n}\n", ""},
		{[]string{"put", "card-2", "k", `{"a":[1,2]}`}, "{\n  \"ok\": true\n}\n", ""},
		{[]string{"get", "card-2", "k", "--stale"}, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n", ""},
		{[]string{"put", "card-2", "s", `"x"`}, "{\n  \"ok\": true\n}\n", ""},
		{[]string{"incr", "card-2", "--key", "s"}, "", "409 "},
		{[]string{"get", "_card"}, "", "400 "},
		{[]string{"get", "card-2", "absent"}, "", "404 not found"},
		// An increment without "by" adds 1, in a transaction too.
		{[]string{"txn", "card-3", `{"success":[{"op":"increment","key":"n"}]}`}, `{
  "succeeded": true,
  "results": [
    {
      "op": "increment",
      "key": "n",
      "value": 1
    }
  ]
}
`, ""},
		{[]string{"txn", "card-3", `{"success":[{"op":"increment","key":"n","by":0}]}`}, `{
  "succeeded": true,
  "results": [
    {
      "op": "increment",
      "key": "n",
      "value": 1
    }
  ]
}
`, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, env, &out, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || out.String() != tt.want {
				t.Fatalf("got %q, %v; want %q", out.String(), err, tt.want)
			}
		})
	}
}

// TestServeLogFileAndStatus: --log-file sends the log (dobj's lines and
// Raft's, as JSON: a file is not a terminal) to the file, and
// /_cluster/status names the file and the process.
func TestServeLogFileAndStatus(t *testing.T) {
	var stderr syncBuffer
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	logFile := filepath.Join(t.TempDir(), "n1.log")
	url := "http://" + httpAddr
	stop := runServe(t, &stderr, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr, "--log-file", logFile)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"status", "--url", url}, getenvOf(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var st client.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status %s: %v", out.String(), err)
	}
	if st.PID != os.Getpid() || st.LogFile != logFile {
		t.Fatalf("status pid %d log_file %q, want %d %q", st.PID, st.LogFile, os.Getpid(), logFile)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if stderr.String() != "" {
		t.Errorf("stderr got log lines with --log-file: %s", stderr.String())
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var sawRaft, sawDobj bool
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["node"] != "n1" || m["level"] == nil {
			t.Fatalf("log line %q: want JSON with node n1 and level (%v)", l, err)
		}
		sawRaft = sawRaft || m["msg"] == "entering leader state"
		sawDobj = sawDobj || m["msg"] == "serving"
	}
	if !sawRaft || !sawDobj {
		t.Fatalf("log file lacks Raft's leader line (%v) or dobj's serving line (%v):\n%s", sawRaft, sawDobj, b)
	}
}

// TestServeAnswersAHugeURLWithAProblem: serve's listener rewrites
// net/http's own plain-text 431 (a 3 MiB key in the URL) as problem+json.
func TestServeAnswersAHugeURLWithAProblem(t *testing.T) {
	url, _ := startServe(t, io.Discard)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, "PUT /card-1/storage/"+strings.Repeat("k", 3<<20)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" ||
		p.Status != 431 || p.Type != "too-large" || p.Detail == "" {
		t.Fatalf("%d %s %+v, want a 431 problem", resp.StatusCode, resp.Header.Get("Content-Type"), p)
	}
}

// TestServeAnswersOnlyItsOwnNames: a node without tokens answers a Host
// that is its address or a name given with --http-hosts, and refuses any
// other name (one rebound to it).
func TestServeAnswersOnlyItsOwnNames(t *testing.T) {
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	url := "http://" + httpAddr
	runServe(t, io.Discard, url, "--id", "n1", "--data-dir", t.TempDir(), "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--peers", "n1="+raftAddr, "--http-hosts", "dobj.test,proxy.test:443")
	for host, want := range map[string]int{httpAddr: 200, "dobj.test": 200, "proxy.test": 200, "evil.test:8081": 403} {
		req, err := http.NewRequest(http.MethodGet, url+"/card-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
