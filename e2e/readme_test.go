package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The README test runs every ```sh block of README.md, in order, in a
// fresh copy of the repository, the way a newcomer would: `go run
// ./cmd/dobj dev` in one terminal, the curl and CLI examples in another,
// `go build -o dobj ./cmd/dobj`, the nodes started by hand. Each command
// whose README comment shows JSON (`# {"name":"card-1","value":1}`, or a
// string, on its line or the next) must print that JSON; N in it stands for any
// number. Every other command must exit 0. What is run and what is
// expected come from the README itself, so the test follows it as it
// changes; the only knowledge of its own is in the rules below.
//
//   - A block right after a line `<!-- readme-test: skip (why) -->` is not
//     run (the test suite itself, runs of minutes).
//   - `dobj dev` and `dobj serve` (after `go run ./cmd/dobj`, `./dobj` or
//     `dobj`) run until the end, in the background, as in a terminal of
//     their own; the block's next commands wait until they answer
//     /_ready. A block that starts a new cluster (dev, or serve with
//     --peers) first stops the servers earlier blocks started (Ctrl-C):
//     the README's clusters share ports. serve --join adds to the running
//     one.
//   - The README's ports are moved into this test's range: HTTP
//     127.0.0.1:8080+i to readmeHTTPBase+i, Raft 9080+i to
//     readmeRaftBase+i, dev gets --base-port, and
//     the CLI's default URL ($DOBJ_URL) is node 1's.
const (
	// Below Linux's ephemeral ports (32768 up), which outgoing
	// connections may hold; Raft at launch's HTTP+1000.
	readmeHTTPBase = 15500
	readmeRaftBase = readmeHTTPBase + 1000
	readmeWait     = 3 * time.Minute // go run compiles first
)

type readmeBlock struct {
	line int    // of the opening fence, 1-based
	skip string // why it is not run; "" if it is
	cmds []readmeCmd
}

type readmeCmd struct {
	line   int
	text   string // for bash -c: comments removed, continuations kept
	expect string // the JSON the README shows as its output, or ""
}

var readmeSkip = regexp.MustCompile(`^<!--\s*readme-test:\s*skip\b(.*?)-->$`)

// parseReadme returns the ```sh blocks of a README and their commands.
func parseReadme(text string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		fence := strings.TrimSpace(lines[i])
		if fence != "```sh" && fence != "```bash" && fence != "```shell" {
			continue
		}
		b := readmeBlock{line: i + 1}
		for j := i - 1; j >= 0; j-- {
			prev := strings.TrimSpace(lines[j])
			if prev == "" {
				continue
			}
			if m := readmeSkip.FindStringSubmatch(prev); m != nil {
				b.skip = strings.Trim(strings.TrimSpace(m[1]), "()")
				if b.skip == "" {
					b.skip = "marked skip"
				}
			}
			break
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README line %d: block not closed", i+1)
		}
		cmds, err := parseCommands(lines[i+1:end], i+2)
		if err != nil {
			return nil, err
		}
		b.cmds = cmds
		blocks = append(blocks, b)
		i = end
	}
	return blocks, nil
}

// parseCommands splits a block's lines into shell commands: a command
// goes on while a quote is open or its line ends with a backslash; a #
// outside quotes, at the start or after a space, starts a comment. A
// comment that starts with { or [ is the command's output; a line that
// is only such a comment gives the output of the command before it.
func parseCommands(lines []string, first int) ([]readmeCmd, error) {
	var cmds []readmeCmd
	var cur strings.Builder
	curLine := 0
	inSingle, inDouble := false, false
	for k, line := range lines {
		if cur.Len() == 0 {
			trimmed := strings.TrimSpace(line)
			if trimmed == "" {
				continue
			}
			if c, ok := strings.CutPrefix(trimmed, "#"); ok {
				if out := outputComment(c); out != "" && len(cmds) > 0 && cmds[len(cmds)-1].expect == "" {
					cmds[len(cmds)-1].expect = out
				}
				continue
			}
			curLine = first + k
		}
		code, comment := line, ""
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case inSingle:
				inSingle = c != '\''
			case inDouble:
				if c == '\\' {
					i++
				} else if c == '"' {
					inDouble = false
				}
			case c == '\'':
				inSingle = true
			case c == '"':
				inDouble = true
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				code, comment = line[:i], line[i+1:]
				i = len(line)
			}
		}
		cur.WriteString(code)
		cur.WriteString("\n")
		if inSingle || inDouble || strings.HasSuffix(strings.TrimRight(code, " \t"), "\\") {
			continue
		}
		cmds = append(cmds, readmeCmd{line: curLine, text: strings.TrimSpace(cur.String()), expect: outputComment(comment)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("README line %d: command not finished (an open quote or a trailing backslash)", curLine)
	}
	return cmds, nil
}

// outputComment returns a comment's text if it shows JSON output: an
// object, an array or a string.
func outputComment(c string) string {
	c = strings.TrimSpace(c)
	if strings.HasPrefix(c, "{") || strings.HasPrefix(c, "[") || strings.HasPrefix(c, `"`) {
		return c
	}
	return ""
}

// anyNumber stands for the README's N placeholder in expected JSON.
const anyNumber = "\x00N"

var placeholderN = regexp.MustCompile(`([:\[,]\s*)N\b`)

// parseExpected reads the first JSON value of a README comment (what
// follows it, like "(every key)", is prose), N standing for any number.
func parseExpected(s string) (any, error) {
	s = placeholderN.ReplaceAllString(s, `${1}"\u0000N"`)
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// parseOutput reads a command's output as exactly one JSON value.
func parseOutput(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// jsonMatches compares decoded JSON, anyNumber matching any number.
func jsonMatches(want, got any) bool {
	switch w := want.(type) {
	case string:
		if w == anyNumber {
			_, ok := got.(json.Number)
			return ok
		}
		g, ok := got.(string)
		return ok && g == w
	case json.Number:
		g, ok := got.(json.Number)
		return ok && g.String() == w.String()
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !jsonMatches(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !jsonMatches(w[i], g[i]) {
				return false
			}
		}
		return true
	default: // bool, nil
		return want == got
	}
}

var readmePort = regexp.MustCompile(`127\.0\.0\.1:(\d{4})\b`)

// movePorts moves the README's ports into this test's range (see above).
func movePorts(cmd string) string {
	cmd = readmePort.ReplaceAllStringFunc(cmd, func(m string) string {
		p, _ := strconv.Atoi(strings.TrimPrefix(m, "127.0.0.1:"))
		switch {
		case p > 8080 && p < 8100:
			p = readmeHTTPBase + p - 8080
		case p > 9080 && p < 9100:
			p = readmeRaftBase + p - 9080
		}
		return "127.0.0.1:" + strconv.Itoa(p)
	})
	if serverVerb(cmd) == "dev" {
		flags := fmt.Sprintf(" --base-port %d", readmeHTTPBase)
		if before, after, ok := strings.Cut(cmd, " -- "); ok {
			return before + flags + " -- " + after
		}
		return cmd + flags
	}
	return cmd
}

var readmeServer = regexp.MustCompile(`^(?:go run \./cmd/dobj|\./dobj|dobj) (dev|serve)\b`)

// serverVerb is "dev" or "serve" for a command that runs until stopped.
func serverVerb(cmd string) string {
	if m := readmeServer.FindStringSubmatch(cmd); m != nil {
		return m[1]
	}
	return ""
}

var httpAddrFlag = regexp.MustCompile(`--http-addr[ =](\S+)`)

// readyURLs are the /_ready URLs of what a server command starts.
func readyURLs(cmd string) []string {
	if serverVerb(cmd) == "dev" {
		var urls []string
		for i := 1; i <= 3; i++ {
			urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d/_ready", readmeHTTPBase+i))
		}
		return urls
	}
	addr := "127.0.0.1:8081"
	if m := httpAddrFlag.FindStringSubmatch(cmd); m != nil {
		addr = m[1]
	}
	return []string{"http://" + addr + "/_ready"}
}

// readmeServerProc is a background server of the README test: a
// process group the test leads (go run and the dobj it started).
type readmeServerProc struct {
	line int
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when it exited and was reaped

	mu sync.Mutex
	// reaped is set, under mu, before the group's leader is reaped: from
	// then on its number, and its group's, may be another process's, so
	// the group is signalled no more.
	reaped bool
}

// watch waits for the group's leader to exit; then, while the leader is
// not yet reaped and the group's ID is still the test's, it kills
// whatever the leader started and left in its group, and reaps it.
func (p *readmeServerProc) watch() {
	pid := p.cmd.Process.Pid
	if waitNoReap(pid) == nil {
		p.mu.Lock()
		syscall.Kill(-pid, syscall.SIGKILL)
		p.reaped = true
		p.mu.Unlock()
	}
	p.cmd.Wait()
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
	close(p.done)
}

// signal sends sig to the process group unless its leader was reaped.
func (p *readmeServerProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop sends SIGINT to its process group, as Ctrl-C in its terminal
// would, then SIGKILL if it lingers; watch kills what is left in the
// group once the leader has exited.
func (p *readmeServerProc) stop() {
	p.signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *readmeServerProc) tail() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// TestREADMECommands runs the README's commands as described above.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands, go run and go build included")
	}
	clone := freshClone(t)
	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseReadme(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), fmt.Sprintf("DOBJ_URL=http://127.0.0.1:%d", readmeHTTPBase+1))
	logs := t.TempDir()

	var servers []*readmeServerProc
	stopAll := func() {
		for _, s := range servers {
			s.stop()
		}
		servers = nil
	}
	t.Cleanup(stopAll)

	ran := 0
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README line %d: block not run: %s", b.line, b.skip)
			continue
		}
		var started []*readmeServerProc
		var ready []string
		for _, c := range b.cmds {
			text := movePorts(c.text)
			verb := serverVerb(text)
			if verb == "" {
				if len(ready) > 0 {
					waitReadmeReady(t, started, ready)
					started, ready = nil, nil
				}
				runReadmeCommand(t, clone, env, c, text)
				ran++
				continue
			}
			if (verb == "dev" || strings.Contains(text, "--peers")) && len(started) == 0 {
				// A new cluster: stop the one of the blocks before.
				stopAll()
			}
			s := startReadmeServer(t, clone, env, logs, c.line, text)
			servers = append(servers, s)
			started = append(started, s)
			ready = append(ready, readyURLs(text)...)
			ran++
		}
		if len(ready) > 0 {
			waitReadmeReady(t, started, ready)
		}
	}
	if ran == 0 {
		t.Fatal("no README command ran")
	}
}

// freshClone copies what `git clone` of this working tree would hold
// (tracked files, as modified, and new ones not ignored) into a temporary
// directory: no data/, no ./dobj, nothing a README command left behind.
func freshClone(t *testing.T) string {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	root := strings.TrimSpace(string(top))
	files, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "dobj")
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		src, dst := filepath.Join(root, f), filepath.Join(clone, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return clone
}

func runReadmeCommand(t *testing.T, dir string, env []string, c readmeCmd, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readmeWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("README line %d: %s\n%v\nstdout: %s\nstderr: %s", c.line, text, err, stdout.String(), stderr.String())
		return
	}
	if c.expect == "" {
		return
	}
	want, err := parseExpected(c.expect)
	if err != nil {
		t.Errorf("README line %d: the output it shows, %s, is not JSON: %v", c.line, c.expect, err)
		return
	}
	got, err := parseOutput(stdout.String())
	if err != nil || !jsonMatches(want, got) {
		t.Errorf("README line %d: %s\nprinted: %s\nREADME shows: %s", c.line, text, strings.TrimSpace(stdout.String()), c.expect)
	}
}

func startReadmeServer(t *testing.T, dir string, env []string, logs string, line int, text string) *readmeServerProc {
	t.Helper()
	log, err := os.Create(filepath.Join(logs, fmt.Sprintf("line-%d.log", line)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cmd := exec.Command("bash", "-c", "exec "+text)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // stopped as a group, as a terminal would
	if err := cmd.Start(); err != nil {
		t.Fatalf("README line %d: %s: %v", line, text, err)
	}
	p := &readmeServerProc{line: line, cmd: cmd, log: log, done: make(chan struct{})}
	go p.watch()
	return p
}

// waitReadmeReady polls the URLs until each answers 200, failing if a
// server exits first.
func waitReadmeReady(t *testing.T, procs []*readmeServerProc, urls []string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readmeWait)
	for _, u := range urls {
		for {
			for _, p := range procs {
				select {
				case <-p.done:
					t.Fatalf("README line %d: exited before %s was ready: %v\n%s", p.line, u, p.cmd.ProcessState, p.tail())
				default:
				}
			}
			resp, err := hc.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				var tails strings.Builder
				for _, p := range procs {
					fmt.Fprintf(&tails, "line %d:\n%s\n", p.line, p.tail())
				}
				t.Fatalf("%s not ready within %v\n%s", u, readmeWait, tails.String())
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}
}
