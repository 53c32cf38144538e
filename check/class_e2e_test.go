package check

import (
	"testing"
	"time"
)

// Ports of the class workload's clusters, in check's range beside the
// other tests' (see e2e_test.go).
const (
	portsClassPass = 30500
	portsClassBug  = 30600
)

// TestClassWorkload runs the register and counter workloads through a
// deployed class (--workload class) with the leader killed and restarted:
// linearizable on a healthy cluster; and with the known bug that answers
// a call before its command commits, caught.
func TestClassWorkload(t *testing.T) {
	testDeployedWorkload(t, WorkloadClass, "the class", portsClassPass, portsClassBug)
}

// testDeployedWorkload runs workload (one that deploys code and runs
// register and counter through it, reached via) with the leader killed
// and restarted, on a healthy cluster at port pass, where it must be
// linearizable, and with the ack-before-commit bug at port bug, which
// it must catch. It returns the healthy run's directory, where its
// stopped nodes' data stays until the test ends.
func testDeployedWorkload(t *testing.T, workload, via string, pass, bug int) (passDir string) {
	needBinary(t)
	tests := []struct {
		name string
		bug  string
		port int
		pass bool
	}{
		{"healthy", "", pass, true},
		{"ack-before-commit", "ack-before-commit", bug, false},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.pass {
			passDir = dir
		}
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Binary:       binary,
				Dir:          dir,
				BasePort:     tt.port,
				Duration:     12 * time.Second,
				Workloads:    []string{workload},
				Nemeses:      []string{NemesisKillLeader},
				Clients:      6,
				Bug:          tt.bug,
				Seed:         7,
				CheckTimeout: 60 * time.Second,
			}
			rep := runCheck(t, cfg, 30)
			for _, name := range []string{"register.read", "register.write", "register.cas", "counter.incr", "counter.read"} {
				if rep.Counts[name].OK == 0 {
					t.Errorf("no successful %s through %s: %+v", name, via, rep.Counts)
				}
			}
			if tt.pass {
				if !rep.Pass || rep.Linearizability != "Ok" || len(rep.Problems) != 0 {
					t.Fatalf("healthy cluster: verdict %q, porcupine %q, problems %q", rep.Verdict, rep.Linearizability, rep.Problems)
				}
				return
			}
			if rep.Pass || rep.Verdict != verdictViolation {
				t.Fatalf("bug %s not caught through %s: verdict %q", tt.bug, via, rep.Verdict)
			}
		})
	}
	return passDir
}
