package check

import (
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome of one request as the client saw it.
type Outcome string

const (
	OK      Outcome = "ok"      // answered with a result
	Fail    Outcome = "fail"    // 503, 4xx, connection refused: definitely not applied
	Unknown Outcome = "unknown" // 504, timeout, broken connection: may have been applied
)

// Counts holds how many operations of one name ended in each outcome.
type Counts struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Unknown int `json:"unknown"`
}

// IdemResend is an increment re-sent with the Idempotency-Key of an
// earlier, successful one, as a client whose answer was lost would: the
// retry must return exactly the first answer.
type IdemResend struct {
	Object, Key, IdemKey string
	First                int64   // the first answer
	Retry                int64   // the retry's answer, when Outcome is OK
	Outcome              Outcome // the retry's outcome
	At                   time.Duration
}

// SetAdd is one add of the set workload: a unique element and what the
// client was told.
type SetAdd struct {
	Element string
	Outcome Outcome
}

// history is the record of a run, safe for concurrent clients. Times are
// nanoseconds since the run's start, on the monotonic clock.
type history struct {
	start time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation
	counts  map[string]*Counts
	resends []IdemResend
	adds    []SetAdd
}

func newHistory() *history {
	return &history{start: time.Now(), counts: map[string]*Counts{}}
}

// now is the time since the start in nanoseconds.
func (h *history) now() int64 { return int64(time.Since(h.start)) }

// count adds one outcome of the operation named name.
func (h *history) count(name string, o Outcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.counts[name]
	if c == nil {
		c = &Counts{}
		h.counts[name] = c
	}
	switch o {
	case OK:
		c.OK++
	case Fail:
		c.Fail++
	case Unknown:
		c.Unknown++
	}
}

// add records a checked operation. An unknown outcome returns at infinity.
func (h *history) add(client int, in Input, out Output, call, ret int64, meta Meta) {
	if out.Unknown {
		ret = infinity
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret, Metadata: meta})
}

func (h *history) resend(r IdemResend) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resends = append(h.resends, r)
}

func (h *history) setAdd(a SetAdd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.adds = append(h.adds, a)
}

// snapshot returns copies of everything recorded so far, operations in
// call order.
func (h *history) snapshot() ([]porcupine.Operation, map[string]Counts, []IdemResend, []SetAdd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	counts := make(map[string]Counts, len(h.counts))
	for k, v := range h.counts {
		counts[k] = *v
	}
	return ops, counts, append([]IdemResend(nil), h.resends...), append([]SetAdd(nil), h.adds...)
}
