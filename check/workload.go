package check

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/dobj/dobj/client"
)

// The workloads.
const (
	WorkloadRegister = "register" // read, write and compare-and-set of storage keys
	WorkloadCounter  = "counter"  // increment and read of counter keys, with Idempotency-Keys
	WorkloadSet      = "set"      // unique adds, all read back at the end
)

// Workloads lists every workload.
var Workloads = []string{WorkloadRegister, WorkloadCounter, WorkloadSet}

const (
	// keyOps is how many operations a key gets before the workload moves
	// on to a fresh one: porcupine's search grows exponentially with the
	// indeterminate operations of one key, so keys are kept short-lived.
	keyOps = 250
	// activeKeys is how many keys of a workload are in use at once; few,
	// so that the clients meet on them.
	activeKeys = 2
	// resendEvery: every resendEvery-th successful increment of a client
	// is sent again with the same Idempotency-Key, as by a client whose
	// answer was lost; the retry must return the first answer.
	resendEvery = 8
	// incrAttempts bounds the tries of one increment with the same key
	// after unknown outcomes; incrRetryFor bounds their total time.
	incrAttempts = 5
	incrRetryFor = 10 * time.Second
)

// keyspace hands out the keys of one workload, moving each slot to a
// fresh key after keyOps operations.
type keyspace struct {
	prefix string

	mu    sync.Mutex
	gen   [activeKeys]int
	ops   [activeKeys]int
	used  []string
	known map[string]bool
}

func newKeyspace(prefix string) *keyspace {
	return &keyspace{prefix: prefix, known: map[string]bool{}}
}

func (k *keyspace) pick(rng *rand.Rand) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	slot := rng.IntN(activeKeys)
	if k.ops[slot] >= keyOps {
		k.gen[slot]++
		k.ops[slot] = 0
	}
	k.ops[slot]++
	key := fmt.Sprintf("%s%d.%d", k.prefix, slot, k.gen[slot])
	if !k.known[key] {
		k.known[key] = true
		k.used = append(k.used, key)
	}
	return key
}

// keys returns every key handed out.
func (k *keyspace) keys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.used...)
}

// workload is what the clients share: the nodes, the history, the objects
// of this run (named after its id, so that runs against the same cluster
// never meet) and the keys.
type workload struct {
	kinds   []string
	nodes   []*node
	h       *history
	runID   string
	regObj  string
	cntObj  string
	setObj  string
	regKeys *keyspace
	cntKeys *keyspace
	parent  context.Context // requests: ends only when the whole check is interrupted
	ops     kvOps           // built-in routes, a class's calls (WorkloadClass) or a Worker's (WorkloadWorker)
}

func newWorkload(parent context.Context, kinds []string, nodes []*node, h *history, runID string) *workload {
	kinds, ops := expandWorkloads(kinds)
	// Class and script objects live apart from built-in ones; the names
	// keep the runs' histories apart too.
	switch ops := ops.(type) {
	case classOps:
		runID += "-class"
		if ops.script != "" {
			runID += "-sql"
		}
	case workerOps:
		runID += "-worker"
	}
	return &workload{
		ops:     ops,
		kinds:   kinds,
		nodes:   nodes,
		h:       h,
		runID:   runID,
		regObj:  "check-" + runID + "-register",
		cntObj:  "check-" + runID + "-counter",
		setObj:  "check-" + runID + "-set",
		regKeys: newKeyspace("r"),
		cntKeys: newKeyspace("c"),
		parent:  parent,
	}
}

// pendingRead is the read a client owes after an unknown outcome on key,
// before it writes again.
type pendingRead struct {
	kind string
	key  string
}

// worker is one client: a porcupine ClientId, issuing one operation at a
// time, at a node it changes after a failure.
type worker struct {
	w        *workload
	id       int
	rng      *rand.Rand
	node     int
	seq      int
	incrs    int
	pending  *pendingRead
	lastSeen map[string]string // register key -> value last read or written ("" = absent)
}

// run issues operations until stop ends.
func (c *worker) run(stop context.Context) {
	for stop.Err() == nil {
		var o Outcome
		if p := c.pending; p != nil {
			if p.kind == WorkloadRegister {
				o = c.regRead(p.key)
			} else {
				o = c.cntRead(p.key)
			}
			if o == OK {
				c.pending = nil
			}
		} else {
			switch c.w.kinds[c.rng.IntN(len(c.w.kinds))] {
			case WorkloadRegister:
				o = c.register()
			case WorkloadCounter:
				o = c.counter()
			case WorkloadSet:
				o = c.setAdd()
			}
		}
		if o != OK {
			// Another node may do better; and no busy loop while the
			// cluster has no leader.
			c.node = (c.node + 1) % len(c.w.nodes)
			sleep(stop, time.Duration(20+c.rng.IntN(80))*time.Millisecond)
		}
	}
}

func (c *worker) at() *node { return c.w.nodes[c.node] }

func (c *worker) uniqueValue() string {
	c.seq++
	return strconv.Quote(fmt.Sprintf("w%d-%d", c.id, c.seq))
}

func (c *worker) register() Outcome {
	key := c.w.regKeys.pick(c.rng)
	switch r := c.rng.IntN(10); {
	case r < 4:
		return c.regRead(key)
	case r < 7:
		return c.regWrite(key)
	default:
		return c.regCAS(key)
	}
}

func (c *worker) regRead(key string) Outcome {
	n := c.at()
	call := c.w.h.now()
	v, found, err := c.w.ops.get(c.w.parent, n, c.w.regObj, key)
	ret := c.w.h.now()
	o := classify(err)
	c.w.h.count("register.read", o)
	if o == OK {
		out := Output{Found: found}
		if found {
			out.Value = string(v)
		}
		c.lastSeen[key] = out.Value
		c.w.h.add(c.id, Input{Kind: KindRead, Object: c.w.regObj, Key: key}, out, call, ret, Meta{Node: n.id})
	}
	return o
}

func (c *worker) regWrite(key string) Outcome {
	n := c.at()
	val := c.uniqueValue()
	call := c.w.h.now()
	err := c.w.ops.put(c.w.parent, n, c.w.regObj, key, json.RawMessage(val))
	ret := c.w.h.now()
	o := classify(err)
	c.w.h.count("register.write", o)
	c.recordWrite(WorkloadRegister, key, o, func(out Output) {
		c.w.h.add(c.id, Input{Kind: KindWrite, Object: c.w.regObj, Key: key, Value: val}, out, call, ret, Meta{Node: n.id})
	})
	if o == OK {
		c.lastSeen[key] = val
	}
	return o
}

func (c *worker) regCAS(key string) Outcome {
	n := c.at()
	old := c.lastSeen[key]
	val := c.uniqueValue()
	call := c.w.h.now()
	succeeded, err := c.w.ops.cas(c.w.parent, n, c.w.regObj, key, old, val)
	ret := c.w.h.now()
	o := classify(err)
	c.w.h.count("register.cas", o)
	c.recordWrite(WorkloadRegister, key, o, func(out Output) {
		out.OK = succeeded
		c.w.h.add(c.id, Input{Kind: KindCAS, Object: c.w.regObj, Key: key, Value: val, Old: old}, out, call, ret, Meta{Node: n.id})
	})
	if o == OK && succeeded {
		c.lastSeen[key] = val
	}
	return o
}

// recordWrite records a write's operation unless it definitely failed;
// after an unknown outcome the client owes a read of the key.
func (c *worker) recordWrite(kind, key string, o Outcome, add func(Output)) {
	switch o {
	case OK:
		add(Output{})
	case Unknown:
		add(Output{Unknown: true})
		c.pending = &pendingRead{kind: kind, key: key}
		delete(c.lastSeen, key)
	}
}

func (c *worker) counter() Outcome {
	key := c.w.cntKeys.pick(c.rng)
	if c.rng.IntN(10) < 4 {
		return c.cntRead(key)
	}
	return c.incr(key)
}

func (c *worker) cntRead(key string) Outcome {
	n := c.at()
	call := c.w.h.now()
	v, err := c.w.ops.count(c.w.parent, n, c.w.cntObj, key)
	ret := c.w.h.now()
	o := classify(err)
	c.w.h.count("counter.read", o)
	if o == OK {
		c.w.h.add(c.id, Input{Kind: KindCount, Object: c.w.cntObj, Key: key}, Output{N: v}, call, ret, Meta{Node: n.id})
	}
	return o
}

// incr increments key by one with an Idempotency-Key. After an unknown
// outcome it retries with the same key (at other nodes) until an answer,
// incrAttempts tries or incrRetryFor: one logical operation from the first
// call to the answer. Every resendEvery-th success is sent once more.
func (c *worker) incr(key string) Outcome {
	c.seq++
	idem := fmt.Sprintf("%s-w%d-%d", c.w.runID, c.id, c.seq)
	first := c.at()
	call := c.w.h.now()
	deadline := time.Now().Add(incrRetryFor)
	o := Fail
	attempts := 0
	for attempts < incrAttempts {
		attempts++
		n := c.at()
		v, err := c.w.ops.incr(c.w.parent, n, c.w.cntObj, key, idem)
		ret := c.w.h.now()
		a := classify(err)
		if attempts > 1 {
			c.w.h.count("counter.incr-retry", a)
		}
		if a == OK {
			o = OK
			c.w.h.count("counter.incr", OK)
			c.w.h.add(c.id, Input{Kind: KindIncr, Object: c.w.cntObj, Key: key}, Output{N: v}, call, ret, Meta{Node: first.id, Attempts: attempts, IdemKey: idem})
			c.incrs++
			if c.incrs%resendEvery == 0 {
				c.resend(key, idem, v)
			}
			return OK
		}
		if a == Unknown {
			o = Unknown
		}
		if o == Fail || time.Now().After(deadline) || c.w.parent.Err() != nil {
			break // a first try that definitely failed is simply dropped
		}
		c.node = (c.node + 1) % len(c.w.nodes)
		sleep(c.w.parent, time.Duration(100*attempts)*time.Millisecond)
	}
	c.w.h.count("counter.incr", o)
	if o == Unknown {
		c.w.h.add(c.id, Input{Kind: KindIncr, Object: c.w.cntObj, Key: key}, Output{Unknown: true}, call, 0, Meta{Node: first.id, Attempts: attempts, IdemKey: idem})
		c.pending = &pendingRead{kind: WorkloadCounter, key: key}
	}
	return o
}

// resend sends an increment that succeeded once more with its
// Idempotency-Key, at another node.
func (c *worker) resend(key, idem string, first int64) {
	n := c.w.nodes[(c.node+1)%len(c.w.nodes)]
	v, err := c.w.ops.incr(c.w.parent, n, c.w.cntObj, key, idem)
	o := classify(err)
	c.w.h.count("counter.resend", o)
	c.w.h.resend(IdemResend{Object: c.w.cntObj, Key: key, IdemKey: idem, First: first, Retry: v, Outcome: o, At: time.Duration(c.w.h.now())})
}

func (c *worker) setAdd() Outcome {
	n := c.at()
	c.seq++
	elem := fmt.Sprintf("w%d-%d", c.id, c.seq)
	err := n.c.Put(c.w.parent, c.w.setObj, elem, json.RawMessage("true"), client.WriteOptions{})
	o := classify(err)
	c.w.h.count("set.add", o)
	c.w.h.setAdd(SetAdd{Element: elem, Outcome: o})
	return o
}
