package check

import (
	"strconv"
	"time"

	"github.com/dobj/dobj/launch"
)

// stopGrace is how long a node gets to stop after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// launchNodes prepares three nodes n1..n3 under dir (data in dir/nX,
// logs in dir/nX.log) on launch's ports at base: a low snapshot threshold
// and few trailing logs, so that a node that falls behind catches up by
// installing a snapshot, fault injection on, and bug switched on if not
// empty; with sec, TLS, mutual TLS and tokens; with workerPort, node i
// serves Workers on workerPort+i-1.
func launchNodes(binary, dir string, base, workerPort int, snapshotThreshold uint64, bug string, sec *launch.Secure) (*launch.Cluster, error) {
	threshold := strconv.FormatUint(snapshotThreshold, 10)
	args := []string{
		"--snapshot-threshold", threshold,
		"--trailing-logs", threshold,
		// Small segments, so that truncated log is deleted within
		// seconds and a node that was down catches up by a snapshot.
		"--wal-segment-bytes", "65536",
		"--snapshot-interval", "500ms",
		"--apply-timeout", "2s",
		"--test-faults",
		"--log-format", "text",
	}
	if bug != "" {
		args = append(args, "--unsafe-bug", bug, "--unsafe-allow-bugs")
	}
	return launch.New(launch.Config{Binary: binary, Dir: dir, BasePort: base, Nodes: 3, Args: args, Secure: sec, WorkerPort: workerPort})
}
