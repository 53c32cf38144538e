package bench

import (
	"context"
	"embed"

	"github.com/dobj/dobj/client"
)

// sql-increment (issue 22): the counter kept in an SQL table of an
// SQLite-backed object (sqlapp/), one UPDATE … SET v = v + 1 … RETURNING
// v a call, to set beside class-increment's key-value counter. Each
// call runs the class's fetch on the leader, through the operator route
// /_scripts/<script>/objects/<Class>/<name>/increment (admin), and
// commits the statement as one Raft command that every replica re-runs.

// benchSQLPath is where the SQL counters are called, before
// /<name>/increment.
const benchSQLPath = "/_scripts/dobj-bench-sql/objects/SQLCounter"

//go:embed sqlapp
var benchSQLApp embed.FS

// deployBenchSQL deploys sqlapp through c.
func deployBenchSQL(ctx context.Context, c *client.Client) error {
	return deployBenchProject(ctx, c, benchSQLApp, "sqlapp", "sql-increment", nil)
}
