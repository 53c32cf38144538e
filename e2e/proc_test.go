package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gone polls until process pid no longer exists, failing t after d.
func gone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	eventually(t, d, fmt.Sprintf("pid %d to end", pid), func() error {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill 0: %v", err)
		}
		return nil
	})
}

// TestReadmeServerGroupEnds: a README server whose leader exits on its
// own leaves nothing in its group, without stop, since the group is
// killed while its leader is not yet reaped and its ID still the test's;
// stop ends one that runs, and signals nothing once it is reaped.
func TestReadmeServerGroupEnds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("waitid's WNOWAIT is Linux's")
	}
	dir := t.TempDir()
	// The straggler's command line is the test's own, so that a cleanup
	// can tell it from a process that took its number.
	sleep := fmt.Sprintf("sleep 300.%d", os.Getpid())
	p := startReadmeServer(t, dir, os.Environ(), dir, 1, "sh -c '"+sleep+" & echo $! >straggler.pid'")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader did not exit")
	}
	b, err := os.ReadFile(filepath.Join(dir, "straggler.pid"))
	if err != nil {
		t.Fatal(err)
	}
	straggler, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killIfRunning(straggler, sleep) })
	gone(t, straggler, 10*time.Second)
	p.stop() // a no-op now: the leader is reaped
	if !p.reaped {
		t.Fatal("a reaped leader is not marked so")
	}

	p = startReadmeServer(t, dir, os.Environ(), dir, 2, "sleep 300")
	p.stop()
	if p.cmd.ProcessState == nil || p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("stopped server ended with %v, want SIGINT", p.cmd.ProcessState)
	}
}

// killIfRunning kills process pid if its command line is cmdline,
// checked after its pidfd is open so that the signal cannot reach a
// process that took its number since.
func killIfRunning(pid int, cmdline string) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	defer p.Release()
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ") == cmdline {
		p.Kill()
	}
}

// TestKillChild: killChild ends a child of the given parent, and leaves
// a process that is not, or no longer, its child alone.
func TestKillChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	child := exec.Command("sleep", "300")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	if err := killChild(os.Getpid()+0x7fffff, child.Process.Pid); err == nil || !strings.Contains(err.Error(), "not") {
		t.Fatalf("killChild of another parent's: %v; want a refusal", err)
	}
	if err := syscall.Kill(child.Process.Pid, 0); err != nil {
		t.Fatalf("the child was hit: %v", err)
	}
	if err := killChild(os.Getpid(), child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err == nil || child.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	if err := killChild(os.Getpid(), child.Process.Pid); err == nil {
		t.Fatal("killChild of a reaped child succeeded")
	}
}
