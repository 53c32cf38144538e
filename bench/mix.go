package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is one kind of operation the load generator sends.
type Op int

// The operations, in the order Mix holds their weights.
const (
	OpIncrement Op = iota // dobj: POST /<name>/increment; etcd: put
	OpRead                // dobj: GET /<name> (linearizable); etcd: range
	OpStaleRead           // dobj: GET /<name>?consistency=stale; etcd: serializable range
	OpPut                 // dobj: PUT /<name>/storage/<key>; etcd: put of another key
	OpTxn                 // dobj: POST /<name>/transaction; etcd: txn
	// OpClassIncrement is dobj only: POST /do/<bench class>/<name>/increment,
	// the counter as a deployed object class (issue 14).
	OpClassIncrement
	// OpWorkerIncrement is dobj only: POST <Worker URL>/<name>/increment,
	// the seed's application through a Worker and RPC (issue 20).
	OpWorkerIncrement
	// OpRPCIncrement is dobj only: POST /_scripts/<bench Worker script>/
	// objects/Counter/<name>/rpc/increment with [1], the same Counter's
	// increment as OpWorkerIncrement's called directly through the
	// operator route, without a Worker (issue 20).
	OpRPCIncrement
	// OpSQLIncrement is dobj only: POST /_scripts/dobj-bench-sql/objects/
	// SQLCounter/<name>/increment, the counter in an SQL table of an
	// SQLite-backed object, UPDATE … RETURNING (issue 22).
	OpSQLIncrement
	// OpSQLFill is dobj only: POST …/SQLCounter/<name>/fill, a row of
	// 256 KiB of random bytes (made by every replica from the call's
	// seed, so the Raft entry stays small): the scale run's data.
	OpSQLFill
	numOps
)

var opNames = [numOps]string{"increment", "read", "stale_read", "put", "txn", "class_increment", "worker_increment", "rpc_increment", "sql_increment", "sql_fill"}

// opAliases are the other spellings ParseMix accepts.
var opAliases = map[string]Op{
	"incr": OpIncrement, "write": OpIncrement,
	"linearizable": OpRead, "range": OpRead,
	"stale": OpStaleRead, "stale-read": OpStaleRead, "serializable": OpStaleRead,
	"storage_put": OpPut, "storage-put": OpPut,
	"transaction":      OpTxn,
	"class-increment":  OpClassIncrement,
	"worker-increment": OpWorkerIncrement,
	"rpc-increment":    OpRPCIncrement,
	"sql-increment":    OpSQLIncrement,
	"sql-fill":         OpSQLFill,
}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op(" + strconv.Itoa(int(o)) + ")"
	}
	return opNames[o]
}

// Mix is the relative weight of each Op; an op with weight 0 is never sent.
type Mix [numOps]int

// ParseMix reads "increment=50,read=50": comma-separated op=weight pairs,
// weights non-negative integers, at least one positive. A bare op name
// means weight 1.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[Op]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, hasWeight := strings.Cut(part, "=")
		op, ok := lookupOp(strings.TrimSpace(name))
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: unknown op %q (want %s)", s, name, strings.Join(opNames[:], ", "))
		}
		if seen[op] {
			return Mix{}, fmt.Errorf("mix %q: %s given twice", s, op)
		}
		seen[op] = true
		w := 1
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(weight))
			if err != nil || n < 0 {
				return Mix{}, fmt.Errorf("mix %q: weight of %s must be a non-negative integer", s, op)
			}
			w = n
		}
		m[op] = w
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("mix %q: no op has a positive weight", s)
	}
	return m, nil
}

func lookupOp(name string) (Op, bool) {
	name = strings.ToLower(name)
	for i, n := range opNames {
		if n == name {
			return Op(i), true
		}
	}
	op, ok := opAliases[name]
	return op, ok
}

// String is the canonical form ParseMix reads back, ops with weight 0 left out.
func (m Mix) String() string {
	var parts []string
	for i, w := range m {
		if w > 0 {
			parts = append(parts, opNames[i]+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// pick maps r, uniform in [0, total), to the op whose share of the weights
// it falls in.
func (m Mix) pick(r int) Op {
	for i, w := range m {
		if r < w {
			return Op(i)
		}
		r -= w
	}
	panic("bench: mix pick out of range")
}
