package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// TargetRqlite is rqlite (issue 22's comparison for sql_increment): its
// HTTP API, one SQLite database replicated by Raft, where each of the
// run's objects is a row of one table. sql_increment is the same
// statement dobj's SQL counters run, UPDATE … SET v = v + 1 … RETURNING
// v, sent to /db/execute of any node (a follower forwards it to the
// leader); the run creates the table and its rows first. It sends no
// other op.
const TargetRqlite = "rqlite"

// rqliteTarget speaks rqlite's /db/execute.
type rqliteTarget struct{}

// rqliteIncrement is sql_increment's statement, row id bound.
const rqliteIncrement = "UPDATE bench_counters SET v = v + 1 WHERE id = ? RETURNING v"

func (rqliteTarget) send(hc *httpClient, base string, op Op, object int, _ uint64) error {
	if op != OpSQLIncrement {
		return fmt.Errorf("rqlite target: only %v", OpSQLIncrement)
	}
	body := `[["` + rqliteIncrement + `",` + strconv.Itoa(object) + `]]`
	return hc.doCheck(http.MethodPost, base+"/db/execute", []byte(body), rqliteAnswer(1))
}

// remove leaves the table: rqlite's are the comparison's own clusters.
func (rqliteTarget) remove(*httpClient, string, int) error { return nil }

// rqliteAnswer checks that an /db/execute answer holds rows results
// without an error: rqlite answers 200 to a statement that failed.
func rqliteAnswer(rows int) func([]byte) error {
	return func(b []byte) error {
		var out struct {
			Error   string `json:"error"`
			Results []struct {
				Error  string  `json:"error"`
				Values [][]any `json:"values"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("rqlite: %w", err)
		}
		if out.Error != "" {
			return errors.New("rqlite: " + out.Error)
		}
		for _, r := range out.Results {
			if r.Error != "" {
				return errors.New("rqlite: " + r.Error)
			}
			if rows > 0 && len(r.Values) != rows {
				return fmt.Errorf("rqlite: %d rows returned, want %d", len(r.Values), rows)
			}
		}
		return nil
	}
}

// setupRqlite creates the counters' table with a row for each of the
// run's objects, through base, retrying while the cluster has no
// leader.
func setupRqlite(ctx context.Context, hc *httpClient, base string, objects int) error {
	var stmts bytes.Buffer
	stmts.WriteString(`["CREATE TABLE IF NOT EXISTS bench_counters (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"`)
	for i := 0; i < objects; i += 500 {
		stmts.WriteString(`,"INSERT OR IGNORE INTO bench_counters (id, v) VALUES `)
		for j := i; j < min(i+500, objects); j++ {
			if j > i {
				stmts.WriteByte(',')
			}
			fmt.Fprintf(&stmts, "(%d, 0)", j)
		}
		stmts.WriteByte('"')
	}
	stmts.WriteByte(']')
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if err = hc.doCheck(http.MethodPost, base+"/db/execute", stmts.Bytes(), rqliteAnswer(0)); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // no leader yet: try again
	}
	return fmt.Errorf("bench: create rqlite's table: %w", err)
}
