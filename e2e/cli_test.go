package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/launch"
)

// dobj runs the binary with args and DOBJ_URL=url and returns its stdout,
// stderr and exit code.
func dobj(t *testing.T, url string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return dobjIn(t, "", url, args...)
}

// TestCLIVerbs drives a cluster with the client verbs, as a person at a
// terminal would, through different nodes.
func TestCLIVerbs(t *testing.T) {
	c := newCluster(t, 3)
	c.start()
	u1, u2, u3 := c.nodes[0].url(), c.nodes[1].url(), c.nodes[2].url()

	jsonOut := func(out string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		return v
	}
	tests := []struct {
		name    string
		url     string
		args    []string
		want    string // stdout, as JSON, compared after decoding
		wantErr string // stderr substring, with exit code 1
	}{
		{"incr", u1, []string{"incr", "card-1"}, `{"name":"card-1","value":1}`, ""},
		{"incr by", u2, []string{"incr", "card-1", "--by", "5"}, `{"name":"card-1","value":6}`, ""},
		{"decr flags first", u3, []string{"decr", "--by", "2", "card-1"}, `{"name":"card-1","value":4}`, ""},
		{"get counter", u1, []string{"get", "card-1"}, `{"name":"card-1","value":4}`, ""},
		{"get stale", u3, []string{"get", "card-1", "--stale"}, "", ""}, // any value: stale
		{"incr key", u2, []string{"incr", "card-2", "--key", "likes"}, `{"name":"card-2","key":"likes","value":1}`, ""},
		{"url flag wins", "http://127.0.0.1:1", []string{"get", "card-2", "--key", "likes", "--url", u3}, `{"name":"card-2","key":"likes","value":1}`, ""},
		{"put", u3, []string{"put", "card-2", "owner", `{"name":"ada","tags":["x"]}`}, `{"ok":true}`, ""},
		{"get value", u1, []string{"get", "card-2", "owner"}, `{"name":"ada","tags":["x"]}`, ""},
		{"list", u2, []string{"list", "card-2"}, `{"entries":[{"key":"likes","value":1},{"key":"owner","value":{"name":"ada","tags":["x"]}}],"more":false}`, ""},
		{"list prefix", u2, []string{"list", "card-2", "--prefix", "o"}, `{"entries":[{"key":"owner","value":{"name":"ada","tags":["x"]}}],"more":false}`, ""},
		{"list limit reverse", u2, []string{"list", "card-2", "--limit", "1", "--reverse"}, `{"entries":[{"key":"owner","value":{"name":"ada","tags":["x"]}}],"more":true}`, ""},
		{"txn", u1, []string{"txn", "card-2", `{"compare":[{"key":"owner","op":"exists"}],"success":[{"op":"increment","key":"likes","by":2}]}`},
			`{"succeeded":true,"results":[{"op":"increment","key":"likes","value":3}]}`, ""},
		{"del", u3, []string{"del", "card-2", "owner"}, `{"deleted":true}`, ""},
		{"del again", u1, []string{"del", "card-2", "owner"}, `{"deleted":false}`, ""},
		{"get absent", u1, []string{"get", "card-2", "owner"}, "", "error: 404"},
		{"del all", u2, []string{"del", "card-2", "--all"}, `{"deleted":1}`, ""},
		{"idempotent incr", u1, []string{"incr", "card-9", "--idempotency-key", "once"}, `{"name":"card-9","value":1}`, ""},
		{"idempotent retry elsewhere", u3, []string{"incr", "card-9", "--idempotency-key", "once"}, `{"name":"card-9","value":1}`, ""},
		{"reserved name", u1, []string{"incr", "_card"}, "", "error: 400 "},
		{"incr creates s", u2, []string{"incr", "card-2", "--key", "s"}, `{"name":"card-2","key":"s","value":1}`, ""},
		{"put string", u2, []string{"put", "card-2", "s", `"text"`}, `{"ok":true}`, ""},
		{"incr a string", u2, []string{"incr", "card-2", "--key", "s"}, "", "error: 409 "},
		{"put invalid JSON", u1, []string{"put", "card-2", "k", "{nope"}, "", "error: JSON:"},
		{"missing argument", u1, []string{"put", "card-2", "k"}, "", "error: usage: dobj put"},
		{"unreachable node", "http://127.0.0.1:1", []string{"get", "card-1"}, "", "error: talking to http://127.0.0.1:1"},
		{"unknown verb", u1, []string{"frobnicate"}, "", `error: usage: unknown verb "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := dobj(t, tt.url, tt.args...)
			if tt.wantErr != "" {
				if code != 1 || !strings.Contains(errOut, tt.wantErr) {
					t.Fatalf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tt.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if tt.want != "" {
				if got, want := jsonOut(out), jsonOut(tt.want); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("output %s, want %s", out, tt.want)
				}
			}
		})
	}

	out, errOut, code := dobj(t, u2, "status")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st client.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ID != "n2" || len(st.Members) != 3 || st.Leader.ID == "" {
		t.Fatalf("status output %s (%v)", out, err)
	}
}

// TestServeRefusesBadSettings runs serve with settings it must refuse:
// it exits 1 at once and names the setting.
func TestServeRefusesBadSettings(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := func() string { return "127.0.0.1:" + strconv.Itoa(freePort(t)) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing id", []string{"serve", "--http-addr", free(), "--raft-addr", free()}, "--id: required"},
		{"malformed peers", []string{"serve", "--id", "n1", "--peers", "n1@127.0.0.1:1"}, "-peers"},
		{"own id not in peers", []string{"serve", "--id", "n3", "--peers", "n1=127.0.0.1:1,n2=127.0.0.1:2"}, "--peers: this node's id \"n3\""},
		{"peers and join", []string{"serve", "--id", "n1", "--raft-addr", "127.0.0.1:1", "--peers", "n1=127.0.0.1:1", "--join", "http://127.0.0.1:2"}, "--join: give either"},
		{"http address in use", []string{"serve", "--id", "n1", "--http-addr", busy.Addr().String(), "--raft-addr", free()}, "--http-addr: cannot listen"},
		{"bug without consent", []string{"serve", "--id", "n1", "--unsafe-bug", "stale-reads"}, "--unsafe-bug: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--data-dir", t.TempDir())
			_, errOut, code := dobj(t, "", args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tt.want)
			}
		})
	}
	t.Run("data dir not writable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := dobj(t, "", "serve", "--id", "n1", "--http-addr", free(), "--raft-addr", free(), "--data-dir", filepath.Join(file, "n1"))
		if code != 1 || !strings.Contains(errOut, "--data-dir:") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestJoinAndRemove grows a one-node cluster with serve --join, then
// removes the new member.
func TestJoinAndRemove(t *testing.T) {
	c := newCluster(t, 1)
	c.start()
	n1 := c.nodes[0]
	dir := t.TempDir()
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	raftAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dataDir := filepath.Join(dir, "n2")
	n2 := wrap(launch.NewNode(bin, "n2", httpAddr, raftAddr, dataDir, filepath.Join(dir, "n2.log"),
		[]string{"--id", "n2", "--data-dir", dataDir, "--http-addr", httpAddr, "--raft-addr", raftAddr, "--join", n1.url()}))
	c.nodes = append(c.nodes, n2)
	c.startNode(n2)
	c.waitReady(n2)

	eventually(t, 30*time.Second, "n2 a voter with its http address", func() error {
		var st client.Status
		if err := c.getJSON(n1.url()+"/_cluster/status", &st); err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == "n2" && m.RaftAddr == n2.raftAddr && m.HTTPAddr == n2.httpAddr && m.Suffrage == "voter" {
				return nil
			}
		}
		return fmt.Errorf("members %+v", st.Members)
	})
	// A write through the new member is forwarded to the leader.
	if r := c.increment(n2.url(), "joined", nil); counterValue(t, r) != 1 {
		t.Fatalf("increment via n2: %s", r)
	}
	c.sameDigest()

	if r := c.do("DELETE", n1.url()+"/_cluster/members/n2", nil, nil); r.status != 200 {
		t.Fatalf("remove n2: %s", r)
	}
	var st client.Status
	if err := c.getJSON(n1.url()+"/_cluster/status", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 1 || st.Members[0].ID != "n1" {
		t.Fatalf("members after removing n2: %+v", st.Members)
	}
	if !c.stop(n2) {
		t.Errorf("n2 did not exit cleanly after removal: %v", n2.Err())
	}
	if got := c.mustCounter(n1.url(), "joined"); got != 1 {
		t.Fatalf("n1 alone reads %d", got)
	}
}

// TestDev runs `dobj dev` and stops it with SIGINT as Ctrl-C would: three
// ready nodes, the leader named, and every child gone afterwards.
func TestDev(t *testing.T) {
	base := devBasePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "dev", "--dir", filepath.Join(dir, "dev"), "--base-port", strconv.Itoa(base))
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var devDone atomic.Bool
	var pids []int
	t.Cleanup(func() {
		// Only if the test failed while dev runs: Ctrl-C, as at the end,
		// so that dev stops its nodes; if it does not, the nodes it still
		// has (a number dev reaped is no longer its node's), then dev.
		if devDone.Load() {
			return
		}
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
			return
		case <-time.After(40 * time.Second):
		}
		for _, pid := range pids {
			killChild(cmd.Process.Pid, pid)
		}
		cmd.Process.Kill()
	})

	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		err := cmd.Wait()
		devDone.Store(true)
		exited <- err
	}()
	nodeLine := regexp.MustCompile(`^\s+(n\d)\s+(http://\S+)\s+pid (\d+)\s+log (\S+)(\s+\(leader\))?$`)
	var urls []string
	leaders := 0
	var out strings.Builder
	timeout := time.After(60 * time.Second)
	for waiting := true; waiting; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("dev ended early: %s\nstdout:\n%s\nstderr:\n%s", <-exited, out.String(), stderr.String())
			}
			out.WriteString(l + "\n")
			if m := nodeLine.FindStringSubmatch(l); m != nil {
				pid, _ := strconv.Atoi(m[3])
				pids = append(pids, pid)
				urls = append(urls, m[2])
				if m[5] != "" {
					leaders++
				}
			}
			if strings.Contains(l, "Ctrl-C stops all three") {
				waiting = false
			}
		case <-timeout:
			t.Fatalf("dev not ready in time; stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
	}
	if len(urls) != 3 || leaders != 1 || !strings.Contains(out.String(), "curl -X POST "+urls[0]+"/card-1/increment") {
		t.Fatalf("dev's output lacks three nodes, one leader, curl examples:\n%s", out.String())
	}
	want := fmt.Sprintf("http://127.0.0.1:%d", base+2)
	if urls[1] != want {
		t.Fatalf("n2 at %s, want %s", urls[1], want)
	}
	c := &testCluster{t: t, hc: newHTTPClient()}
	if r := c.increment(urls[2], "card-1", nil); counterValue(t, r) != 1 {
		t.Fatalf("increment through dev's n3: %s", r)
	}

	// dev supervises its nodes: one that dies is reported with the end of
	// its log, and restarted.
	if err := killChild(cmd.Process.Pid, pids[2]); err != nil {
		t.Fatal(err)
	}
	restarted := regexp.MustCompile(`restarted n3 as pid (\d+)`)
	eventually(t, 30*time.Second, "dev to restart n3", func() error {
		m := restarted.FindStringSubmatch(stderr.String())
		if m == nil {
			return fmt.Errorf("stderr so far:\n%s", stderr.String())
		}
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
		return nil
	})
	if !strings.Contains(stderr.String(), fmt.Sprintf("n3 (pid %d) exited", pids[2])) {
		t.Fatalf("dev did not say which node exited:\n%s", stderr.String())
	}
	eventually(t, 30*time.Second, "an increment through the restarted n3", func() error {
		if r := c.increment(urls[2], "card-1", nil); r.status != 200 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	// dev's Raft logs use small segments (raft-wal preallocates each).
	walBytes := int64(0)
	filepath.Walk(filepath.Join(dir, "dev", "n1", "wal"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			walBytes += info.Size()
		}
		return nil
	})
	if walBytes == 0 || walBytes > 8<<20 {
		t.Errorf("n1's wal holds %d bytes, want a few small segments", walBytes)
	}

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("dev exited with %v after SIGINT; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dev did not exit after SIGINT")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("node pid %d still exists after dev exited (kill 0: %v)", pid, err)
		}
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, err := os.Stat(filepath.Join(dir, "dev", id, "raft.db")); err != nil {
			t.Errorf("dev's data for %s not kept: %v", id, err)
		}
	}
}

// killChild sends SIGKILL to process pid if it is still a child of
// parent, which a process the test started (dev) has not reaped, so the
// number is not yet another process's. The signal goes through a pidfd
// (os.FindProcess's on Linux), which reaches only the process it was
// opened for, so a number freed and taken again between the check and
// the signal is not hit either.
func killChild(parent, pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	ppid, err := parentOf(pid)
	if err != nil {
		return err
	}
	if ppid != parent {
		return fmt.Errorf("pid %d is not %d's child any more (its parent is %d)", pid, parent, ppid)
	}
	return p.Kill()
}

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// devBasePort finds a base port B in this package's range with B+1..B+3
// and B+1001..B+1003 free.
func devBasePort(t *testing.T) int {
	t.Helper()
	for b := basePort + 1500; b < basePort+1600; b += 10 {
		ok := true
		for _, p := range []int{b + 1, b + 2, b + 3, b + 1001, b + 1002, b + 1003} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return b
		}
	}
	t.Fatal("no free base port for dev")
	return 0
}
