package check

import (
	"testing"
)

// Ports of the worker workload's clusters, in check's range beside the
// other tests' (see e2e_test.go); node i's Worker listener is at
// base+workerPortOffset+i.
const (
	portsWorkerPass = 30700
	portsWorkerBug  = 30800
)

// TestWorkerWorkload runs the register and counter workloads through a
// deployed Worker and its RPCs to a class (--workload worker) with the
// leader killed and restarted: linearizable on a healthy cluster, with
// increments retried under the same Idempotency-Key counted once; and
// with the known bug that answers a call before its command commits,
// caught.
func TestWorkerWorkload(t *testing.T) {
	testDeployedWorkload(t, WorkloadWorker, "the Worker", portsWorkerPass, portsWorkerBug)
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
