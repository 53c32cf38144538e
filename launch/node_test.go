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
