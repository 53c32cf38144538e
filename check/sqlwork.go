package check

import "embed"

// WorkloadSQL runs the register and counter workloads through an
// SQLite-backed class (issue 22): sqlapp/ deploys CheckSQL, listed under
// new_sqlite_classes, which keeps the registers and counters in SQL
// tables of each object's database; every operation is a fetch of it
// through the operator route /_scripts/<script>/objects/<class>/<name>/…
// (so the nodes' Idempotency-Keys cover the increments). The history
// checks that its calls are linearizable and answer only once committed;
// the digests compared after the heal cover every node's databases, so
// replicas whose rows differ do not converge. It is not part of "all".
const WorkloadSQL = "sql"

// The script and class the sql workload deploys and calls.
const (
	checkSQLScript = "dobj-check-sql"
	checkSQLClass  = "CheckSQL"
)

//go:embed sqlapp
var sqlApp embed.FS
