package launch

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcessSignalsByPIDAndNoticesCrashes(t *testing.T) {
	dir := t.TempDir()
	p := &Node{ID: "n1", binary: "/bin/sh", args: []string{"-c", "exec sleep 60"}, LogPath: filepath.Join(dir, "n1.log")}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Error("a second start of a running process succeeded")
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if !p.Paused() || !p.Running() {
		t.Error("paused process not marked paused")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	first := p.PID()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() || syscall.Kill(first, 0) == nil {
		t.Fatalf("pid %d still running after kill", first)
	}
	if err := p.Start(); err != nil { // restart, same arguments
		t.Fatal(err)
	}
	if p.PID() == first || !p.Running() {
		t.Fatalf("restart: pid %d (was %d), running %v", p.PID(), first, p.Running())
	}
	p.Stop(10 * time.Second)
	if p.Running() {
		t.Fatal("running after stop")
	}
	if c := p.UnexpectedExits(); len(c) != 0 {
		t.Errorf("exits the launcher caused reported as crashes: %q", c)
	}

	crash := &Node{ID: "n2", binary: "/bin/sh", args: []string{"-c", "echo crashing; exit 3"}, LogPath: filepath.Join(dir, "n2.log")}
	if err := crash.Start(); err != nil {
		t.Fatal(err)
	}
	<-crash.Exited()
	if c := crash.UnexpectedExits(); len(c) != 1 || !strings.Contains(c[0], "exit status 3") {
		t.Errorf("crash not noticed: %q", c)
	}
	if n := crash.CountLogLines("crashing"); n != 1 {
		t.Errorf("its log has %d lines of its output, want 1", n)
	}
}

// A process that ends on its own is reported with what it wrote about
// why (a panic, a runtime fatal error, main's error line), read from its
// own output only: a restarted node's log still holds the last one's.
func TestExitCauseIsTheProcessOwnLastWords(t *testing.T) {
	dir := t.TempDir()
	p := &Node{ID: "n1", binary: "/bin/sh", LogPath: filepath.Join(dir, "n1.log"),
		args: []string{"-c", `echo starting; echo "panic: sealed segment has no index block" >&2; echo; echo "goroutine 1 [running]:"; exit 2`}}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if got := p.ExitCause(); got != "panic: sealed segment has no index block" {
		t.Errorf("exit cause %q, want the panic line", got)
	}
	if c := p.UnexpectedExits(); len(c) != 1 || !strings.HasSuffix(c[0], "exited on its own: exit status 2: panic: sealed segment has no index block") {
		t.Errorf("crash record %q, want the status and the panic", c)
	}

	// The same node again, killed by a signal: nothing of its own says
	// why, and the first run's panic is not this one's.
	p.args = []string{"-c", "echo again; exec sleep 60"}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); p.CountLogLines("again") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second run never started")
		}
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if err := p.Signal(syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("signal after the exit: %v, want not running", err)
	}
	if got := p.ExitCause(); got != "" {
		t.Errorf("exit cause %q after a kill, want none", got)
	}
	if c := p.UnexpectedExits(); len(c) != 2 || !strings.HasSuffix(c[1], "exited on its own: signal: killed") {
		t.Errorf("crash records %q, want the kill last, without a cause", c)
	}
}
