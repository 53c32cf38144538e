package check

import (
	"fmt"
	"sort"
	"strings"
)

// checkSet compares the set's final contents, as each node returned them
// (node id -> elements), with the adds: every acknowledged add must be in
// every node's set (no lost writes), no add answered with a definite
// failure may be there, nothing never added may be there, and all nodes
// must return the same set.
func checkSet(adds []SetAdd, finals map[string][]string) []string {
	var problems []string
	outcome := make(map[string]Outcome, len(adds))
	for _, a := range adds {
		outcome[a.Element] = a.Outcome
	}
	nodes := make([]string, 0, len(finals))
	for id := range finals {
		nodes = append(nodes, id)
	}
	sort.Strings(nodes)
	var first []string
	for i, id := range nodes {
		present := make(map[string]bool, len(finals[id]))
		var phantom, failed []string
		for _, e := range finals[id] {
			present[e] = true
			switch o, ok := outcome[e]; {
			case !ok:
				phantom = append(phantom, e)
			case o == Fail:
				failed = append(failed, e)
			}
		}
		var lost []string
		for _, a := range adds {
			if a.Outcome == OK && !present[a.Element] {
				lost = append(lost, a.Element)
			}
		}
		if len(lost) > 0 {
			problems = append(problems, fmt.Sprintf("set: %d acknowledged adds missing from %s's final read (lost writes): %s", len(lost), id, sample(lost)))
		}
		if len(failed) > 0 {
			problems = append(problems, fmt.Sprintf("set: %d adds answered as definite failures are in %s's final read: %s", len(failed), id, sample(failed)))
		}
		if len(phantom) > 0 {
			problems = append(problems, fmt.Sprintf("set: %d elements never added are in %s's final read: %s", len(phantom), id, sample(phantom)))
		}
		sorted := append([]string(nil), finals[id]...)
		sort.Strings(sorted)
		if i == 0 {
			first = sorted
		} else if strings.Join(sorted, "\x00") != strings.Join(first, "\x00") {
			problems = append(problems, fmt.Sprintf("set: final reads differ: %s has %d elements, %s has %d", nodes[0], len(first), id, len(sorted)))
		}
	}
	return problems
}

// sample quotes at most five of xs.
func sample(xs []string) string {
	if len(xs) > 5 {
		return strings.Join(xs[:5], ", ") + ", …"
	}
	return strings.Join(xs, ", ")
}
