package check

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

// infinity is the return time of an operation whose outcome is unknown: it
// may take effect at any moment after its call, or never (linearized last).
const infinity int64 = math.MaxInt64

// Kind is the kind of one operation of the history.
type Kind uint8

// The operations the models know. Registers are storage keys; counters are
// counter keys incremented by one.
const (
	KindRead  Kind = iota + 1 // register read: Output.Found, Output.Value
	KindWrite                 // register write of the unique Input.Value
	KindCAS                   // register compare-and-set: Input.Old ("" = absent) to Input.Value; Output.OK
	KindIncr                  // counter increment by one: Output.N is the new value
	KindCount                 // counter read: Output.N
)

var kindNames = map[Kind]string{KindRead: "read", KindWrite: "write", KindCAS: "cas", KindIncr: "incr", KindCount: "read"}

// Input is what a client asked. Values are JSON texts, unique per write, so
// the empty string can stand for "absent".
type Input struct {
	Kind   Kind
	Object string
	Key    string
	Value  string // write, cas: the value written
	Old    string // cas: the value compared with ("" = the key is missing)
}

// Output is what it got. Unknown marks an indeterminate operation (504,
// timeout, transport error after sending): the model accepts it with or
// without its effect.
type Output struct {
	Unknown bool
	Found   bool   // read
	Value   string // read, when found
	OK      bool   // cas: the compare held and the put was applied
	N       int64  // incr: the new value; count: the value read
}

// Meta is an operation's metadata, shown by the visualization.
type Meta struct {
	Node     string // the node the client asked first
	Attempts int    // tries of an increment with the same Idempotency-Key
	IdemKey  string
	Final    bool // a read after the heal, with nothing in flight
}

// state is one partition's (object, key) state: a register's value ("" =
// absent) or a counter's value. It is comparable, so porcupine's default
// equality and its cache work on it.
type state struct {
	counter bool
	reg     string
	n       int64
}

// Model is the porcupine model of dobj's registers and counters,
// partitioned by object and key.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partition,
		Init:      func() interface{} { return state{} },
		Step:      step,
		Hash: func(s interface{}) uint64 {
			st := s.(state)
			h := uint64(st.n)*0x9e3779b97f4a7c15 ^ uint64(len(st.reg))
			for i := 0; i < len(st.reg); i++ {
				h = h*1099511628211 ^ uint64(st.reg[i])
			}
			return h
		},
		DescribeOperation:         describeOperation,
		DescribeState:             describeState,
		DescribeOperationMetadata: describeMeta,
	}
}

func step(s0, in0, out0 interface{}) (bool, interface{}) {
	s := s0.(state)
	in := in0.(Input)
	out := out0.(Output)
	switch in.Kind {
	case KindRead:
		if out.Found {
			return s.reg == out.Value, s
		}
		return s.reg == "", s
	case KindWrite:
		s.reg = in.Value
		return true, s
	case KindCAS:
		match := s.reg == in.Old
		if !out.Unknown && out.OK != match {
			return false, s
		}
		if match {
			s.reg = in.Value
		}
		return true, s
	case KindIncr:
		s.counter = true
		if !out.Unknown && out.N != s.n+1 {
			return false, s
		}
		s.n++
		return true, s
	case KindCount:
		s.counter = true
		return out.N == s.n, s
	}
	return false, s
}

// partitionKey names the partition of an operation.
func partitionKey(in Input) string { return in.Object + "\x00" + in.Key }

// partition splits a history by object and key, in order of each key's
// first operation (deterministic, so that the report can name partitions
// by their index in LinearizationInfo).
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		k := partitionKey(op.Input.(Input))
		i, ok := index[k]
		if !ok {
			i = len(parts)
			index[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

func describeOperation(in0, out0 interface{}) string {
	in := in0.(Input)
	out := out0.(Output)
	switch in.Kind {
	case KindRead:
		if !out.Found {
			return "read() -> absent"
		}
		return "read() -> " + out.Value
	case KindWrite:
		if out.Unknown {
			return "write(" + in.Value + ") -> ?"
		}
		return "write(" + in.Value + ")"
	case KindCAS:
		old := in.Old
		if old == "" {
			old = "absent"
		}
		res := "fail"
		switch {
		case out.Unknown:
			res = "?"
		case out.OK:
			res = "ok"
		}
		return fmt.Sprintf("cas(%s -> %s) -> %s", old, in.Value, res)
	case KindIncr:
		if out.Unknown {
			return "incr() -> ?"
		}
		return "incr() -> " + strconv.FormatInt(out.N, 10)
	case KindCount:
		return "read() -> " + strconv.FormatInt(out.N, 10)
	}
	return "?"
}

func describeState(s0 interface{}) string {
	s := s0.(state)
	if s.counter {
		return strconv.FormatInt(s.n, 10)
	}
	if s.reg == "" {
		return "absent"
	}
	return s.reg
}

func describeMeta(m0 interface{}) string {
	m, ok := m0.(Meta)
	if !ok {
		return ""
	}
	s := "via " + m.Node
	if m.Final {
		s = "final read via " + m.Node
	}
	if m.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts", m.Attempts)
	}
	if m.IdemKey != "" {
		s += ", Idempotency-Key " + m.IdemKey
	}
	return s
}

// Linearizability is the result of checking a history with the model.
type Linearizability struct {
	Result porcupine.CheckResult
	Info   porcupine.LinearizationInfo
	// Illegal lists the partitions (object, key) found not linearizable,
	// each with an excerpt of its history around the first operation that
	// no linearization could place.
	Illegal []IllegalPartition
	Elapsed time.Duration
}

// IllegalPartition is one (object, key) whose history is not linearizable.
type IllegalPartition struct {
	Object, Key string
	Ops         int
	Excerpt     []string
}

// checkLinearizable checks history with Model within timeout; a timeout
// is porcupine.Unknown.
func checkLinearizable(ctx context.Context, history []porcupine.Operation, timeout time.Duration) Linearizability {
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	res, info := porcupine.CheckOperationsVerbose(Model(), history, timeout)
	l := Linearizability{Result: res, Info: info, Elapsed: time.Since(start)}
	if res == porcupine.Illegal {
		l.Illegal = illegalPartitions(history, info)
	}
	return l
}

// illegalPartitions finds the partitions whose longest partial
// linearization does not cover all their operations, and quotes each
// around the first operation left out.
func illegalPartitions(history []porcupine.Operation, info porcupine.LinearizationInfo) []IllegalPartition {
	parts := partition(history)
	partials := info.PartialLinearizations()
	var out []IllegalPartition
	for i, ops := range parts {
		if i >= len(partials) {
			break
		}
		placed := map[int]bool{}
		longest := 0
		for _, p := range partials[i] {
			if len(p) > longest {
				longest = len(p)
				placed = map[int]bool{}
				for _, id := range p {
					placed[id] = true
				}
			}
		}
		if longest >= len(ops) {
			continue
		}
		// Porcupine numbers a partition's operations in the order given.
		sorted := make([]int, len(ops))
		for j := range sorted {
			sorted[j] = j
		}
		sort.SliceStable(sorted, func(a, b int) bool { return ops[sorted[a]].Call < ops[sorted[b]].Call })
		first := 0
		for j, id := range sorted {
			if !placed[id] {
				first = j
				break
			}
		}
		in := ops[0].Input.(Input)
		ip := IllegalPartition{Object: in.Object, Key: in.Key, Ops: len(ops)}
		lo, hi := max(0, first-8), min(len(sorted), first+5)
		for j := lo; j < hi; j++ {
			op := ops[sorted[j]]
			mark := "  "
			if j == first {
				mark = "=>"
			}
			ip.Excerpt = append(ip.Excerpt, mark+" "+formatOp(op))
		}
		out = append(out, ip)
	}
	return out
}

// formatOp is one line of a history excerpt: client, times in ms since the
// start, operation and node.
func formatOp(op porcupine.Operation) string {
	ret := "∞"
	if op.Return != infinity {
		ret = fmt.Sprintf("%.1f", float64(op.Return)/1e6)
	}
	meta := describeMeta(op.Metadata)
	return fmt.Sprintf("client %d [%.1f ms, %s ms] %s  (%s)", op.ClientId, float64(op.Call)/1e6, ret, describeOperation(op.Input, op.Output), meta)
}
