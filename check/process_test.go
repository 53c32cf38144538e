package check

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestProcessSignalsByPIDAndNoticesCrashes(t *testing.T) {
	dir := t.TempDir()
	p := &process{id: "n1", binary: "/bin/sh", args: []string{"-c", "exec sleep 60"}, logPath: filepath.Join(dir, "n1.log")}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err == nil {
		t.Error("a second start of a running process succeeded")
	}
	if err := p.pause(); err != nil {
		t.Fatal(err)
	}
	if !p.isPaused() || (&node{proc: p}).up() {
		t.Error("paused process not marked paused")
	}
	if err := p.resume(); err != nil {
		t.Fatal(err)
	}
	first := p.pid()
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	if p.running() || syscall.Kill(first, 0) == nil {
		t.Fatalf("pid %d still running after kill", first)
	}
	if err := p.start(); err != nil { // restart, same arguments
		t.Fatal(err)
	}
	if p.pid() == first || !p.running() {
		t.Fatalf("restart: pid %d (was %d), running %v", p.pid(), first, p.running())
	}
	p.stop()
	if p.running() {
		t.Fatal("running after stop")
	}
	if c := p.unexpectedExits(); len(c) != 0 {
		t.Errorf("exits check caused reported as crashes: %q", c)
	}

	crash := &process{id: "n2", binary: "/bin/sh", args: []string{"-c", "echo crashing; exit 3"}, logPath: filepath.Join(dir, "n2.log")}
	if err := crash.start(); err != nil {
		t.Fatal(err)
	}
	<-crash.exited
	if c := crash.unexpectedExits(); len(c) != 1 || !strings.Contains(c[0], "exit status 3") {
		t.Errorf("crash not noticed: %q", c)
	}
	if n := crash.countLogLines("crashing"); n != 1 {
		t.Errorf("its log has %d lines of its output, want 1", n)
	}
}
