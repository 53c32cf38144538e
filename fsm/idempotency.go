package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"

	"github.com/dobj/dobj/objects"
	"github.com/google/btree"
)

// MaxIdempotencyBytes bounds the idempotency table's memory. Past it, a
// new write with an Idempotency-Key is refused with ErrIdempotencyFull
// (the client retries later, 503) until entries expire: a live key is
// never dropped, so a retry within the window is always recognised. It is
// a constant, not a setting, because every replica must refuse the same
// writes. 256 MiB holds about a million entries of small answers, so
// ~1,700 keyed writes a second, sustained, over the 10-minute window.
const MaxIdempotencyBytes = 256 << 20

// entryOverhead is what an entry costs besides its strings and values:
// the struct, its two B-tree slots and the result slices, rounded up.
const entryOverhead = 256

var (
	// ErrIdempotencyFull: the idempotency table is at MaxIdempotencyBytes;
	// the keyed write was not applied and may be retried later.
	ErrIdempotencyFull = errors.New("idempotency table full")
	// ErrIdempotencyMismatch: the Idempotency-Key was used before for a
	// different request (object or transaction); nothing was applied.
	ErrIdempotencyMismatch = errors.New("idempotency key reused for a different request")
)

// outcome is what a Txn command produced, kept so that a retry with the same
// Idempotency-Key gets it again. Domain errors are kept as data.
type outcome struct {
	Result  txnResultRecord `msgpack:"r"`
	ErrKind uint8           `msgpack:"ek,omitempty"`
	ErrKey  string          `msgpack:"eq,omitempty"`
	ErrMsg  string          `msgpack:"em,omitempty"`
	Index   uint64          `msgpack:"ix"`
	// Call is a class call's response (KindCall); Result is then empty.
	Call *CallResponse `msgpack:"call,omitempty"`
}

func newOutcome(res objects.TxnResult, err error, index uint64) outcome {
	o := outcome{Result: txnResultRecordOf(res), Index: index}
	code, key, msg, ok := objects.EncodeError(err)
	if !ok {
		// Apply returns only domain errors; anything else is kept as
		// invalid, with its message, rather than dropped.
		code, msg = objects.CodeInvalid, err.Error()
	}
	o.ErrKind, o.ErrKey, o.ErrMsg = code, key, msg
	return o
}

func (o outcome) err() error {
	err, _ := objects.DecodeError(o.ErrKind, o.ErrKey, o.ErrMsg)
	return err
}

// idemEntry is one remembered Idempotency-Key. Key is the object name and
// the client's key joined by a NUL, so a key is scoped to its object.
// Hash is requestHash of the write that stored it; entries written by
// builds before it have none, and match any request.
type idemEntry struct {
	Key     string  `msgpack:"k"`
	Expires int64   `msgpack:"x"`
	Outcome outcome `msgpack:"o"`
	Hash    []byte  `msgpack:"h,omitempty"`
}

// size is what e costs the table, for MaxIdempotencyBytes. A class
// call's response counts only in entries with a Hash, those of version 3
// calls: version 2 calls (and earlier builds) left it out, and an entry
// must cost every replica, and every restore of a snapshot, the same.
func (e *idemEntry) size() int {
	n := entryOverhead + len(e.Key) + len(e.Hash) + len(e.Outcome.ErrKey) + len(e.Outcome.ErrMsg)
	for _, r := range e.Outcome.Result.Results {
		n += 48 + len(r.Op) + len(r.Key) + len(r.Value)
	}
	if c := e.Outcome.Call; c != nil && len(e.Hash) > 0 {
		n += c.size()
	}
	return n
}

// matches reports whether e was stored by the request hashed as h.
func (e *idemEntry) matches(h []byte) bool {
	return len(e.Hash) == 0 || bytes.Equal(e.Hash, h)
}

// requestHash fingerprints a write (its object and transaction), so that
// a key reused for another write is told apart from a retry. Every field
// is length-prefixed, so different requests never write the same bytes.
// The first 16 bytes of a sha256 are kept: collisions need 2^64 tries.
func requestHash(object string, t objects.Txn) []byte {
	h := sha256.New()
	var n [8]byte
	num := func(h hash.Hash, v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	str := func(s string) {
		num(h, uint64(len(s)))
		h.Write([]byte(s))
	}
	str(object)
	num(h, uint64(len(t.Compare)))
	for _, c := range t.Compare {
		str(c.Key)
		str(c.Op)
		str(string(c.Value))
	}
	for _, ops := range [][]objects.Op{t.Success, t.Failure} {
		num(h, uint64(len(ops)))
		for _, op := range ops {
			str(op.Op)
			str(op.Key)
			str(string(op.Value))
			num(h, uint64(op.By))
		}
	}
	return h.Sum(nil)[:16]
}

// idemTable remembers outcomes by key until the leader's clock, carried in
// the commands, passes their expiry. Both indexes are B-trees so that a
// snapshot clones them in constant time.
type idemTable struct {
	maxBytes int
	bytes    int // sum of the entries' size
	byKey    *btree.BTreeG[*idemEntry]
	byExpiry *btree.BTreeG[*idemEntry]
}

func newIdemTable() *idemTable {
	return &idemTable{
		maxBytes: MaxIdempotencyBytes,
		byKey:    btree.NewG(32, func(a, b *idemEntry) bool { return a.Key < b.Key }),
		byExpiry: btree.NewG(32, func(a, b *idemEntry) bool {
			if a.Expires != b.Expires {
				return a.Expires < b.Expires
			}
			return a.Key < b.Key
		}),
	}
}

func idemKey(object, key string) string { return object + "\x00" + key }

// get returns the live entry for key at time now.
func (t *idemTable) get(key string, now int64) (*idemEntry, bool) {
	e, ok := t.byKey.Get(&idemEntry{Key: key})
	if !ok || e.Expires <= now {
		return nil, false
	}
	return e, true
}

// full reports whether a new entry must be refused. The check is made
// before the write, whose answer is not known yet, so the table may end
// up to one entry (one answer, bounded by objects.Limits) past maxBytes.
func (t *idemTable) full() bool { return t.bytes >= t.maxBytes }

// put remembers e, replacing an expired entry of the same key. It never
// drops a live entry: callers check full first.
func (t *idemTable) put(e *idemEntry) {
	if old, ok := t.byKey.ReplaceOrInsert(e); ok {
		t.byExpiry.Delete(old)
		t.bytes -= old.size()
	}
	t.byExpiry.ReplaceOrInsert(e)
	t.bytes += e.size()
}

// expire forgets every entry whose expiry is at or before now.
func (t *idemTable) expire(now int64) {
	for {
		e, ok := t.byExpiry.Min()
		if !ok || e.Expires > now {
			return
		}
		t.byExpiry.DeleteMin()
		t.byKey.Delete(e)
		t.bytes -= e.size()
	}
}

// clone copies the table in constant time. google/btree's Clone writes to
// the tree it clones (it marks the shared nodes copy-on-write), so the
// caller holds the Machine's write lock.
func (t *idemTable) clone() *idemTable {
	return &idemTable{maxBytes: t.maxBytes, bytes: t.bytes, byKey: t.byKey.Clone(), byExpiry: t.byExpiry.Clone()}
}

func (t *idemTable) len() int { return t.byKey.Len() }
