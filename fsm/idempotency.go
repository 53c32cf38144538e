package fsm

import (
	"errors"

	"github.com/dobj/dobj/objects"
	"github.com/google/btree"
)

// MaxIdempotencyEntries bounds the idempotency table: past it, the entries
// closest to expiry are dropped first. It is a constant, not a setting,
// because every replica must drop the same entries.
const MaxIdempotencyEntries = 1 << 20

// outcome is what a Txn command produced, kept so that a retry with the same
// Idempotency-Key gets it again. Domain errors are kept as data.
type outcome struct {
	Result  objects.TxnResult `msgpack:"r"`
	ErrKind uint8             `msgpack:"ek,omitempty"`
	ErrKey  string            `msgpack:"eq,omitempty"`
	ErrMsg  string            `msgpack:"em,omitempty"`
	Index   uint64            `msgpack:"ix"`
	// Call is a class call's response (KindCall); Result is then empty.
	Call *CallResponse `msgpack:"call,omitempty"`
}

const (
	errNone uint8 = iota
	errConflict
	errInvalid
)

// invalidError is a remembered objects.ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == objects.ErrInvalid }

func newOutcome(res objects.TxnResult, err error, index uint64) outcome {
	o := outcome{Result: res, Index: index}
	var ce *objects.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		o.ErrKind, o.ErrKey, o.ErrMsg = errConflict, ce.Key, ce.Reason
	default:
		o.ErrKind, o.ErrMsg = errInvalid, err.Error()
	}
	return o
}

func (o outcome) err() error {
	switch o.ErrKind {
	case errConflict:
		return &objects.ConflictError{Key: o.ErrKey, Reason: o.ErrMsg}
	case errInvalid:
		return &invalidError{msg: o.ErrMsg}
	}
	return nil
}

// idemEntry is one remembered Idempotency-Key. Key is the object name and
// the client's key joined by a NUL, so a key is scoped to its object.
type idemEntry struct {
	Key     string  `msgpack:"k"`
	Expires int64   `msgpack:"x"`
	Outcome outcome `msgpack:"o"`
}

// idemTable remembers outcomes by key until the leader's clock, carried in
// the commands, passes their expiry. Both indexes are B-trees so that a
// snapshot clones them in constant time.
type idemTable struct {
	max      int
	byKey    *btree.BTreeG[*idemEntry]
	byExpiry *btree.BTreeG[*idemEntry]
}

func newIdemTable() *idemTable {
	return &idemTable{
		max:   MaxIdempotencyEntries,
		byKey: btree.NewG(32, func(a, b *idemEntry) bool { return a.Key < b.Key }),
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

// put remembers e, replacing an expired entry of the same key.
func (t *idemTable) put(e *idemEntry) {
	if old, ok := t.byKey.ReplaceOrInsert(e); ok {
		t.byExpiry.Delete(old)
	}
	t.byExpiry.ReplaceOrInsert(e)
	for t.byKey.Len() > t.max {
		oldest, _ := t.byExpiry.DeleteMin()
		t.byKey.Delete(oldest)
	}
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
	}
}

func (t *idemTable) clone() *idemTable {
	return &idemTable{max: t.max, byKey: t.byKey.Clone(), byExpiry: t.byExpiry.Clone()}
}

func (t *idemTable) len() int { return t.byKey.Len() }
