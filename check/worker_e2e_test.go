package check

import (
	"testing"
	"time"
)

// Ports of the worker workload's clusters, in check's range beside the
// other tests' (see e2e_test.go); node i's Worker listener is at
// base+workerPortOffset+i.
const (
	portsWorkerPass = 31700
	portsWorkerBug  = 31800
)

// TestWorkerWorkload runs the register and counter workloads through a
// deployed Worker and its RPCs to a class (--workload worker) with the
// leader killed and restarted: linearizable on a healthy cluster, with
// increments retried under the same Idempotency-Key counted once; and
// with the known bug that answers a call before its command commits,
// caught.
func TestWorkerWorkload(t *testing.T) {
	needBinary(t)
	tests := []struct {
		name string
		bug  string
		port int
		pass bool
	}{
		{"healthy", "", portsWorkerPass, true},
		{"ack-before-commit", "ack-before-commit", portsWorkerBug, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Binary:       binary,
				Dir:          t.TempDir(),
				BasePort:     tt.port,
				Duration:     12 * time.Second,
				Workloads:    []string{WorkloadWorker},
				Nemeses:      []string{NemesisKillLeader},
				Clients:      6,
				Bug:          tt.bug,
				Seed:         7,
				CheckTimeout: 60 * time.Second,
			}
			rep := runCheck(t, cfg, 30)
			for _, name := range []string{"register.read", "register.write", "register.cas", "counter.incr", "counter.read"} {
				if rep.Counts[name].OK == 0 {
					t.Errorf("no successful %s through the Worker: %+v", name, rep.Counts)
				}
			}
			if tt.pass {
				if !rep.Pass || rep.Linearizability != "Ok" || len(rep.Problems) != 0 {
					t.Fatalf("healthy cluster: verdict %q, porcupine %q, problems %q", rep.Verdict, rep.Linearizability, rep.Problems)
				}
				return
			}
			if rep.Pass || rep.Verdict != verdictViolation {
				t.Fatalf("bug %s not caught through the Worker: verdict %q", tt.bug, rep.Verdict)
			}
		})
	}
}

// TestWorkerWorkloadRefusesAttach: the worker workload needs the Worker
// listeners of nodes check starts, and cannot share a run with the class
// workload.
func TestWorkerWorkloadRefusesAttach(t *testing.T) {
	for _, cfg := range []Config{
		{Workloads: []string{WorkloadWorker}, URLs: []string{"http://127.0.0.1:1"}},
		{Workloads: []string{WorkloadWorker, WorkloadClass}},
	} {
		if err := cfg.setDefaults(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
