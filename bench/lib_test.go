package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lib runs script in bash after sourcing lib.sh (the shell functions the
// bench/*.sh scripts share), with env added, and returns its stdout,
// stderr and exit code.
func lib(t *testing.T, script string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n. ./lib.sh\n"+script)
	cmd.Env = append(os.Environ(), append([]string{"TMPDIR=" + t.TempDir()}, env...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// running says whether process pid exists (and is not a zombie of ours:
// lib.sh waits for what it stops).
func running(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestLibStartDobjStartsThreeNodesAndStopsThem(t *testing.T) {
	base := freeBasePort(t)
	out, errOut, code := lib(t, fmt.Sprintf(`bench_init t.sh
base_port=%d
dobj_binary
start_dobj 10 0.05
for u in ${dobj_urls//,/ }; do curl -fsS -o /dev/null "$u/_ready"; done
echo "$dobj_urls"
echo "${pids[*]}"
echo "$tmp"
`, base), "BENCH_FAKE_SERVE=1", "DOBJ="+os.Args[0])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q", out)
	}
	want := fmt.Sprintf("http://127.0.0.1:%d,http://127.0.0.1:%d,http://127.0.0.1:%d", base+1, base+2, base+3)
	if lines[0] != want {
		t.Errorf("dobj_urls %q, want %q", lines[0], want)
	}
	pids := strings.Fields(lines[1])
	if len(pids) != 3 {
		t.Fatalf("pids %q, want three", lines[1])
	}
	// The exit trap stopped the nodes and removed the temp dir.
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		if running(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("node %d still running after the script exited", pid)
		}
	}
	if _, err := os.Stat(lines[2]); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind: %v", lines[2], err)
	}
}

// TestLibStartDobjPassesServeArgs: dobj_serve_args reach every node's
// serve (the fake's --fail makes each exit at once, which start_dobj
// reports).
func TestLibStartDobjPassesServeArgs(t *testing.T) {
	_, errOut, code := lib(t, fmt.Sprintf(`bench_init t.sh
base_port=%d
dobj_binary
dobj_serve_args=(--fail)
start_dobj 10 0.05
`, freeBasePort(t)), "BENCH_FAKE_SERVE=1", "DOBJ="+os.Args[0])
	if code == 0 || !strings.Contains(errOut, "bad setting") {
		t.Fatalf("exit %d, stderr %q: want start_dobj to fail with the nodes' own error", code, errOut)
	}
}

func TestLibPortFreeSaysWhichPortAndHow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	out, errOut, code := lib(t, fmt.Sprintf(`bench_init t.sh
ports_hint="set T_PORT"
port_free %d
echo after`, port))
	want := fmt.Sprintf("t.sh: port %d is in use (set T_PORT)", port)
	if code != 1 || out != "" || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	l.Close()
	if out, errOut, code = lib(t, fmt.Sprintf("bench_init t.sh\nport_free %d\necho after", port)); code != 0 || out != "after\n" {
		t.Fatalf("a free port: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLibWaitForReportsAProcessThatExits(t *testing.T) {
	_, errOut, code := lib(t, `bench_init t.sh
echo "bad setting" >"$tmp/node.log"
sleep 0 &
p=$!
wait $p
wait_for http://127.0.0.1:1/ $p "node n1" "$tmp/node.log" 30 0.05`)
	if code != 1 || !strings.Contains(errOut, "t.sh: node n1 exited; its log:\nbad setting") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestLibWaitForGivesUpAfterItsTimeoutAndStopsWhatRuns(t *testing.T) {
	out, errOut, code := lib(t, `bench_init t.sh
echo "still starting" >"$tmp/node.log"
bash -c 'trap "" TERM; exec sleep 60' &
pids+=($!)
echo $!
stop_grace=1
wait_for http://127.0.0.1:1/ $! "node n1" "$tmp/node.log" 1 0.05`)
	if code != 1 || !strings.Contains(errOut, "t.sh: node n1 not ready at http://127.0.0.1:1/ after 1s; its log:\nstill starting") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// The process ignores SIGTERM: the exit trap killed it.
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("stdout %q", out)
	}
	if running(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d still running after the script exited", pid)
	}
}

// stop_members signals only the script's own running children: a number
// in pids that is not one (a child bash already reaped, whose number may
// since be another process's) is left alone.
func TestLibStopMembersSignalsOnlyItsOwnChildren(t *testing.T) {
	// A stopped stranger keeps any signal sent to it pending, where
	// /proc shows it, or dies of a KILL: either way it is seen.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	if err := other.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := lib(t, fmt.Sprintf(`bench_init t.sh
sleep 60 &
own=$!
pids=(%d "$own")
stop_grace=1
stop_members
echo "$own"`, other.Process.Pid))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	own, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("stdout %q", out)
	}
	if running(own) {
		syscall.Kill(own, syscall.SIGKILL)
		t.Errorf("the script's own child %d still runs after stop_members", own)
	}
	if state, pending := procSignals(t, other.Process.Pid); state != "T" || pending != 0 {
		t.Errorf("stop_members signalled %d, which was not its child (state %s, pending signals %#x)", other.Process.Pid, state, pending)
	}
}

// procSignals reads a process's state letter and its pending signals
// (shared and its own) from /proc.
func procSignals(t *testing.T, pid int) (state string, pending uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			state, _, _ = strings.Cut(v, " ")
		case "SigPnd", "ShdPnd":
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatalf("%s: %q", k, v)
			}
			pending |= n
		}
	}
	return state, pending
}
