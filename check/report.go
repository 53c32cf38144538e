package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dobj/dobj/client"
)

// Verdicts, from the worst down: a violation beats an inconclusive check,
// which beats a cluster that did not converge.
const (
	verdictViolation    = "violation"
	verdictInconclusive = "inconclusive"
	verdictNotConverged = "not converged"
	verdictOK           = "linearizable"
)

var verdictRank = map[string]int{verdictViolation: 3, verdictInconclusive: 2, verdictNotConverged: 1}

// Report is the outcome of a check run.
type Report struct {
	Verdict  string   `json:"verdict"`
	Pass     bool     `json:"pass"` // linearizable, conclusive, converged, nothing lost
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`

	Dir       string        `json:"dir"`
	Nodes     []string      `json:"nodes,omitempty"`
	Attached  bool          `json:"attached"` // --urls: check did not start the nodes
	Workloads []string      `json:"workloads"`
	Nemeses   []string      `json:"nemeses"`
	Clients   int           `json:"clients"`
	Bug       string        `json:"bug,omitempty"`
	Seed      int64         `json:"seed"`
	Duration  time.Duration `json:"duration_ns"`

	Ops        int               `json:"ops"` // operations in the checked history
	Counts     map[string]Counts `json:"counts"`
	Resends    int               `json:"idempotent_resends"`
	FinalReads int               `json:"final_reads"`
	SetAdds    int               `json:"set_adds"`
	SetFinal   int               `json:"set_final_size"`
	Faults     []Fault           `json:"faults"`

	Linearizability string             `json:"linearizability"` // porcupine: Ok, Illegal or Unknown (timed out)
	CheckTime       time.Duration      `json:"check_time_ns"`
	Illegal         []IllegalPartition `json:"illegal,omitempty"`

	Converged          bool                     `json:"converged"`
	Digests            map[string]client.Digest `json:"digests,omitempty"`
	SnapshotsTaken     int                      `json:"snapshots_taken"`
	SnapshotsInstalled int                      `json:"snapshots_installed"`

	Visualization string `json:"visualization,omitempty"`
}

// problem records a failed expectation and raises the verdict to at least
// verdict.
func (r *Report) problem(verdict, msg string) {
	r.Problems = append(r.Problems, msg)
	if verdictRank[verdict] > verdictRank[r.Verdict] {
		r.Verdict = verdict
	}
}

// problems records list, one problem each up to the first three, then one
// line for the rest, "… and N more <what>".
func (r *Report) problems(verdict string, list []string, what string) {
	for i, p := range list {
		if i == 3 {
			r.problem(verdict, fmt.Sprintf("… and %d more such problems %s", len(list)-3, what))
			return
		}
		r.problem(verdict, p)
	}
}

// finish settles the verdict once every check has run.
func (r *Report) finish() {
	if len(r.Problems) == 0 {
		r.Verdict, r.Pass = verdictOK, true
	}
}

// Faults counts the nemesis's faults (the final heal excluded).
func (r *Report) FaultCount() int {
	n := 0
	for _, f := range r.Faults {
		if f.Kind != "heal" {
			n++
		}
	}
	return n
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\ndobj check: %s\n", strings.ToUpper(r.Verdict))
	fmt.Fprintf(w, "  %v, %d clients, workloads %s, nemeses %s", r.Duration, r.Clients, strings.Join(r.Workloads, ","), strings.Join(r.Nemeses, ","))
	if r.Bug != "" {
		fmt.Fprintf(w, ", known bug %s switched on", r.Bug)
	}
	fmt.Fprintf(w, ", seed %d\n", r.Seed)
	fmt.Fprintf(w, "  %d operations checked (porcupine: %s in %v), %d idempotent re-sends, %d final reads\n",
		r.Ops, r.Linearizability, r.CheckTime.Round(time.Millisecond), r.Resends, r.FinalReads)
	if r.SetAdds > 0 {
		fmt.Fprintf(w, "  set: %d adds, %d elements in the final read\n", r.SetAdds, r.SetFinal)
	}
	if r.Attached {
		fmt.Fprintf(w, "  converged: %v\n", r.Converged)
	} else {
		fmt.Fprintf(w, "  converged: %v; snapshots taken %d, installed on a lagging node %d\n", r.Converged, r.SnapshotsTaken, r.SnapshotsInstalled)
	}

	names := make([]string, 0, len(r.Counts))
	for n := range r.Counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n  %-20s %8s %8s %8s\n", "operation", "ok", "fail", "unknown")
	for _, n := range names {
		c := r.Counts[n]
		fmt.Fprintf(w, "  %-20s %8d %8d %8d\n", n, c.OK, c.Fail, c.Unknown)
	}

	fmt.Fprintf(w, "\n  faults (%d):\n", r.FaultCount())
	for _, f := range r.Faults {
		fmt.Fprintf(w, "    %s\n", f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\n  problems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "    - %s\n", p)
		}
	}
	for i, ip := range r.Illegal {
		if i == 3 {
			fmt.Fprintf(w, "\n  (%d more keys quoted in report.json)\n", len(r.Illegal)-3)
			break
		}
		fmt.Fprintf(w, "\n  not linearizable: object %s key %s (%d operations); around the first operation no order can place (=>):\n", ip.Object, ip.Key, ip.Ops)
		for _, l := range ip.Excerpt {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	if r.Visualization != "" {
		fmt.Fprintf(w, "\n  visualization: %s\n", r.Visualization)
	}
	fmt.Fprintf(w, "  report: %s\n", r.Dir+"/report.json")
}

// faultColors tints each fault kind's annotation.
var faultColors = map[string]string{
	NemesisKillRandom:      "#f4c7c3",
	NemesisKillLeader:      "#ea9999",
	NemesisPauseLeader:     "#fce8b2",
	NemesisPartitionLeader: "#c9daf8",
	"heal":                 "#d9ead3",
}

// visualize writes porcupine's HTML visualization with every fault window
// annotated on a "nemesis" line. When the history is not linearizable it
// shows only the keys found illegal (re-checked alone, which is quick), so
// that the file stays small enough for a browser; otherwise all of it.
func visualize(ctx context.Context, ops []porcupine.Operation, lin Linearizability, faults []Fault, path string) error {
	if len(lin.Illegal) > 0 {
		bad := map[string]bool{}
		for i, ip := range lin.Illegal {
			if i < maxIllegal {
				bad[partitionKey(Input{Object: ip.Object, Key: ip.Key})] = true
			}
		}
		var sub []porcupine.Operation
		for _, op := range ops {
			if bad[partitionKey(op.Input.(Input))] {
				sub = append(sub, op)
			}
		}
		lin = checkLinearizable(ctx, sub, time.Minute)
	}
	var notes []porcupine.Annotation
	for _, f := range faults {
		desc := f.Kind
		if len(f.Nodes) > 0 {
			desc += " " + strings.Join(f.Nodes, ",")
		}
		details := f.String()
		notes = append(notes, porcupine.Annotation{
			Tag:             "nemesis",
			Start:           int64(f.Start),
			End:             int64(f.End),
			Description:     desc,
			Details:         details,
			BackgroundColor: faultColors[f.Kind],
		})
	}
	info := lin.Info
	info.AddAnnotations(notes)
	return porcupine.VisualizePath(Model(), info, path)
}
