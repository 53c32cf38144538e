package check

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a node gets to stop after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// process is one `dobj serve` child, restartable with the same arguments
// (and so the same data directory). Every signal goes to its PID.
type process struct {
	id      string
	binary  string
	args    []string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed once cmd has been waited for
	paused   bool
	stopping bool     // check is killing or stopping it: its exit is expected
	crashes  []string // exits check did not cause
}

// Ports of node i (1-based) of a cluster started at base.
func httpPort(base, i int) int { return base + i }
func raftPort(base, i int) int { return base + 10 + i }

// newProcesses prepares three nodes n1..n3 under dir (data in dir/nX, logs
// in dir/nX.log): HTTP on base+i, Raft on base+10+i, a low snapshot
// threshold and few trailing logs, so that a node that falls behind catches
// up by installing a snapshot, fault injection on, and bug switched on if
// not empty. It checks that the ports are free.
func newProcesses(binary, dir string, base int, snapshotThreshold uint64, bug string) ([]*process, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var peers []string
	for i := 1; i <= 3; i++ {
		for _, port := range []int{httpPort(base, i), raftPort(base, i)} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				return nil, fmt.Errorf("port %d is in use (choose others with --base-port): %w", port, err)
			}
			ln.Close()
		}
		peers = append(peers, fmt.Sprintf("n%d=127.0.0.1:%d", i, raftPort(base, i)))
	}
	threshold := strconv.FormatUint(snapshotThreshold, 10)
	var procs []*process
	for i := 1; i <= 3; i++ {
		id := "n" + strconv.Itoa(i)
		args := []string{"serve",
			"--id", id,
			"--data-dir", filepath.Join(dir, id),
			"--http-addr", "127.0.0.1:" + strconv.Itoa(httpPort(base, i)),
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(raftPort(base, i)),
			"--peers", strings.Join(peers, ","),
			"--snapshot-threshold", threshold,
			"--trailing-logs", threshold,
			// Small segments, so that truncated log is deleted within
			// seconds and a node that was down catches up by a snapshot.
			"--wal-segment-bytes", "65536",
			"--snapshot-interval", "500ms",
			"--apply-timeout", "2s",
			"--test-faults",
			"--log-format", "text",
		}
		if bug != "" {
			args = append(args, "--unsafe-bug", bug, "--unsafe-allow-bugs")
		}
		procs = append(procs, &process{id: id, binary: binary, args: args, logPath: filepath.Join(dir, id+".log")})
	}
	return procs, nil
}

// start runs the node; its output is appended to its log.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.exited) {
		return fmt.Errorf("%s is already running (pid %d)", p.id, p.cmd.Process.Pid)
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a Ctrl-C at the terminal reaches check only,
	// which then stops the nodes by PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", p.id, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		if !p.stopping {
			p.crashes = append(p.crashes, fmt.Sprintf("%s (pid %d) exited on its own: %v", p.id, cmd.Process.Pid, err))
		}
		p.mu.Unlock()
		close(exited)
	}()
	p.cmd, p.exited, p.paused, p.stopping = cmd, exited, false, false
	return nil
}

// unexpectedExits lists the exits of the process that check did not cause.
func (p *process) unexpectedExits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// running reports whether the process is alive (paused counts as alive).
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// kill sends SIGKILL and waits until the process is gone.
func (p *process) kill() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.paused = false
	p.stopping = true
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return fmt.Errorf("%s is not running", p.id)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", p.id, cmd.Process.Pid, err)
	}
	<-exited
	return nil
}

// pause stops the process with SIGSTOP; resume continues it with SIGCONT.
func (p *process) pause() error  { return p.signalPause(syscall.SIGSTOP, true) }
func (p *process) resume() error { return p.signalPause(syscall.SIGCONT, false) }

func (p *process) signalPause(sig syscall.Signal, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.exited) {
		return fmt.Errorf("%s is not running", p.id)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%v %s (pid %d): %w", sig, p.id, p.cmd.Process.Pid, err)
	}
	p.paused = paused
	return nil
}

func (p *process) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop ends the process: SIGCONT if paused, SIGTERM, and SIGKILL after
// stopGrace.
func (p *process) stop() {
	p.mu.Lock()
	cmd, exited, paused := p.cmd, p.exited, p.paused
	p.paused = false
	p.stopping = true
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return
	}
	if paused {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// countLogLines counts the lines of the node's log that contain s.
func (p *process) countLogLines(s string) int {
	f, err := os.Open(p.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
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
