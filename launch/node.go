package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one `dobj serve` process, restartable with the same arguments
// (and so the same data directory).
type Node struct {
	ID       string
	HTTPAddr string // host:port of the API
	RaftAddr string // host:port of Raft and the peer service
	// WorkerAddr is host:port of its Workers (Config.WorkerPort); empty
	// when it serves none.
	WorkerAddr string
	DataDir    string
	LogPath    string
	binary     string
	args       []string // serve's arguments
	scheme     string   // of the API: "" (http) or https

	mu       sync.Mutex
	cmd      *exec.Cmd
	logStart int64         // the log's size when cmd started: its output follows
	exited   chan struct{} // closed once cmd has been waited for
	waitErr  error
	paused   bool
	stopping bool     // the launcher stops or kills it: its exit is expected
	crashes  []string // exits the launcher did not cause
	onExit   func(n *Node, err error)
}

// URL is the node's API base URL.
func (n *Node) URL() string {
	if n.scheme == "" {
		return "http://" + n.HTTPAddr
	}
	return n.scheme + "://" + n.HTTPAddr
}

// Args are the serve arguments the node is started with.
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

// Start runs the node's process; its output is appended to its log.
func (n *Node) Start() error { return n.StartEnv(nil) }

// StartEnv is Start with env (KEY=value) added to the environment.
func (n *Node) StartEnv(env []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !isClosed(n.exited) {
		return fmt.Errorf("%s is already running (pid %d)", n.ID, n.cmd.Process.Pid)
	}
	log, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fi, err := log.Stat()
	if err != nil {
		log.Close()
		return err
	}
	// Not CommandContext: the processes are stopped gracefully by Stop.
	cmd := exec.Command(n.binary, n.args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		log.Close()
		cause := fatalLine(n.LogPath, fi.Size())
		n.mu.Lock()
		n.waitErr = err
		expected := n.stopping
		if !expected {
			crash := fmt.Sprintf("%s (pid %d) exited on its own: %v", n.ID, cmd.Process.Pid, exitStatus(err))
			if cause != "" {
				crash += ": " + cause
			}
			n.crashes = append(n.crashes, crash)
		}
		onExit := n.onExit
		n.mu.Unlock()
		close(exited)
		if !expected && onExit != nil {
			onExit(n, err)
		}
	}()
	n.cmd, n.logStart, n.exited, n.waitErr, n.paused, n.stopping = cmd, fi.Size(), exited, nil, false, false
	return nil
}

// ExitCause is what the last process wrote, as it ended, about why: the
// last line of its output that starts with "panic: ", "fatal error: "
// (the Go runtime) or "error: " (how dobj's main reports the error it
// exits 1 with). It is empty when there is none, as for a process
// killed by a signal, or one that stopped as asked.
func (n *Node) ExitCause() string {
	n.mu.Lock()
	from := n.logStart
	n.mu.Unlock()
	return fatalLine(n.LogPath, from)
}

// fatalLine is the last line of the file at path, from offset from on,
// that says why a process ended (ExitCause).
func fatalLine(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "error: ") {
			last = l
		}
	}
	return last
}

// exitStatus says how a process ended, from its Wait error.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Running reports whether the process is alive (paused counts as alive).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !isClosed(n.exited)
}

// Paused reports whether the process is stopped by Pause.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// PID is the process id of the last start, 0 before any.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Exited is closed once the current process has exited; nil before any
// start.
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

// Err is how the last process exited (nil for status 0 or still running).
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waitErr
}

// UnexpectedExits lists the exits the launcher did not cause.
func (n *Node) UnexpectedExits() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.crashes...)
}

// Kill sends SIGKILL and waits until the process is gone.
func (n *Node) Kill() error {
	cmd, exited, err := n.expectExit()
	if err != nil {
		return err
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", n.ID, cmd.Process.Pid, err)
	}
	<-exited
	return nil
}

// Stop ends the process: SIGCONT if paused, SIGTERM, and SIGKILL after
// grace. It reports whether the process exited by itself with status 0.
func (n *Node) Stop(grace time.Duration) bool {
	n.mu.Lock()
	paused := n.paused
	n.mu.Unlock()
	cmd, exited, err := n.expectExit()
	if err != nil {
		return false
	}
	if paused {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return n.Err() == nil
	case <-t.C:
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		return false
	}
}

// expectExit marks the coming exit as the launcher's doing and returns
// the running process.
func (n *Node) expectExit() (*exec.Cmd, chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || isClosed(n.exited) {
		return nil, nil, fmt.Errorf("%s is not running", n.ID)
	}
	n.paused, n.stopping = false, true
	return n.cmd, n.exited, nil
}

// Signal sends sig to the running process as a fault from outside
// would (a SIGKILL is recorded among UnexpectedExits). It goes through
// the process's os.Process, never by number, and only while the process
// is the node's: one that has exited is not signalled, and its number,
// which may be another process's by then, is not used.
func (n *Node) Signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.signalLocked(sig)
}

// signalLocked is Signal with n.mu held.
func (n *Node) signalLocked(sig syscall.Signal) error {
	if n.cmd == nil || isClosed(n.exited) {
		return fmt.Errorf("%s is not running", n.ID)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%v %s (pid %d): %w", sig, n.ID, n.cmd.Process.Pid, err)
	}
	return nil
}

// Pause stops the process with SIGSTOP; Resume continues it with SIGCONT.
func (n *Node) Pause() error  { return n.signalPause(syscall.SIGSTOP, true) }
func (n *Node) Resume() error { return n.signalPause(syscall.SIGCONT, false) }

func (n *Node) signalPause(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.signalLocked(sig); err != nil {
		return err
	}
	n.paused = paused
	return nil
}

// Tail returns the last lines of the node's log.
func (n *Node) Tail(lines int) string { return Tail(n.LogPath, lines) }

// CountLogLines counts the lines of the node's log that contain s.
func (n *Node) CountLogLines(s string) int {
	f, err := os.Open(n.LogPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			count++
		}
	}
	return count
}

// Tail returns the last lines of the file at path.
func Tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
