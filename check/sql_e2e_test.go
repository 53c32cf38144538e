package check

import "testing"

// Ports of the sql workload's clusters, in check's range beside the
// other tests' (see e2e_test.go).
const (
	portsSQLPass = 30900
	portsSQLBug  = 30000
)

// TestSQLWorkload runs the register and counter workloads through an
// SQLite-backed class's SQL tables (--workload sql) with the leader
// killed and restarted: linearizable and converged on a healthy
// cluster (the digests compared cover the databases: fsm's
// TestSQLCallDigestCoversRows); the known bug that answers a call before
// its command commits, caught.
func TestSQLWorkload(t *testing.T) {
	testDeployedWorkload(t, WorkloadSQL, "the SQL class", portsSQLPass, portsSQLBug)
}
