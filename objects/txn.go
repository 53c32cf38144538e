package objects

import (
	"encoding/json"
	"fmt"
)

// Validate checks t's shape: known op and compare names, a non-empty key
// wherever one is used, and a JSON value on put, equal and not_equal. The
// error wraps ErrInvalid and names the offending entry.
func (t Txn) Validate() error {
	for i, c := range t.Compare {
		if err := c.validate(); err != nil {
			return fmt.Errorf("%w: compare[%d]: %s", ErrInvalid, i, err)
		}
	}
	for _, list := range []struct {
		name string
		ops  []Op
	}{{"success", t.Success}, {"failure", t.Failure}} {
		for i, op := range list.ops {
			if err := op.validate(); err != nil {
				return fmt.Errorf("%w: %s[%d]: %s", ErrInvalid, list.name, i, err)
			}
		}
	}
	return nil
}

func (c Compare) validate() error {
	switch c.Op {
	case CmpEqual, CmpNotEqual:
		if err := checkValue(c.Value); err != nil {
			return err
		}
	case CmpExists, CmpMissing:
	default:
		return fmt.Errorf("unknown compare op %q", c.Op)
	}
	if c.Key == "" {
		return fmt.Errorf("%s: empty key", c.Op)
	}
	return nil
}

func (o Op) validate() error {
	switch o.Op {
	case OpPut:
		if err := checkValue(o.Value); err != nil {
			return err
		}
	case OpGet, OpDelete, OpIncrement:
	case OpDeleteAll:
		return nil // the whole object: no key
	default:
		return fmt.Errorf("unknown op %q", o.Op)
	}
	if o.Key == "" {
		return fmt.Errorf("%s: empty key", o.Op)
	}
	return nil
}

func checkValue(v json.RawMessage) error {
	if len(v) == 0 {
		return fmt.Errorf("missing value")
	}
	if !json.Valid(v) {
		return fmt.Errorf("value is not JSON")
	}
	return nil
}

// Apply runs t on object atomically: every Compare is evaluated against the
// current state; if all hold, Success is applied, otherwise Failure. Ops see
// the effects of the ops before them. If t is invalid (ErrInvalid) or an op
// conflicts (a *ConflictError: not an integer, overflow), the error is
// returned and the store is left exactly as it was.
func (s *Store) Apply(object string, t Txn) (TxnResult, error) {
	res, _, err := s.apply(object, t, false)
	return res, err
}

// apply is Apply, listing the changes too when withChanges (see
// ApplyChanges).
func (s *Store) apply(object string, t Txn, withChanges bool) (TxnResult, []Change, error) {
	if err := t.Validate(); err != nil {
		return TxnResult{}, nil, err
	}
	ok := true
	for _, c := range t.Compare {
		if !s.holds(object, c) {
			ok = false
			break
		}
	}
	ops := t.Success
	if !ok {
		ops = t.Failure
	}
	ov := overlay{s: s, object: object}
	results := make([]Result, 0, len(ops))
	for _, op := range ops {
		r, err := ov.apply(op)
		if err != nil {
			return TxnResult{}, nil, err
		}
		results = append(results, r)
	}
	var changes []Change
	if withChanges {
		changes = ov.changes()
	}
	ov.commit()
	return TxnResult{Succeeded: ok, Results: results}, changes, nil
}

// holds evaluates one compare against the store.
func (s *Store) holds(object string, c Compare) bool {
	v, found := s.Get(object, c.Key)
	switch c.Op {
	case CmpEqual:
		return found && string(v) == string(c.Value)
	case CmpNotEqual:
		return !found || string(v) != string(c.Value)
	case CmpExists:
		return found
	default: // CmpMissing; Validate refused any other
		return !found
	}
}

// overlay holds a transaction's writes until every op has succeeded, so that
// a failing op leaves the store untouched. Reads go through it, so later ops
// see earlier ones.
type overlay struct {
	s      *Store
	object string
	// cleared: a delete_all ran; keys not in writes are absent.
	cleared bool
	// writes: key -> new value, nil for deleted.
	writes map[string]json.RawMessage
}

func (ov *overlay) get(key string) (json.RawMessage, bool) {
	if v, ok := ov.writes[key]; ok {
		return v, v != nil
	}
	if ov.cleared {
		return nil, false
	}
	return ov.s.Get(ov.object, key)
}

func (ov *overlay) set(key string, v json.RawMessage) {
	if ov.writes == nil {
		ov.writes = make(map[string]json.RawMessage)
	}
	ov.writes[key] = v
}

func (ov *overlay) apply(op Op) (Result, error) {
	r := Result{Op: op.Op, Key: op.Key}
	switch op.Op {
	case OpGet:
		v, found := ov.get(op.Key)
		r.Found = &found
		if found {
			r.Value = v
		}
	case OpPut:
		ov.set(op.Key, clone(op.Value))
	case OpDelete:
		_, found := ov.get(op.Key)
		r.Deleted = &found
		if found {
			ov.set(op.Key, nil)
		}
	case OpDeleteAll:
		n := ov.count()
		r.Count = &n
		ov.cleared = true
		clear(ov.writes)
	case OpIncrement:
		var cur int64
		if v, found := ov.get(op.Key); found {
			n, ok := parseInt(v)
			if !ok {
				return Result{}, &ConflictError{Key: op.Key, Reason: ReasonNotInteger}
			}
			cur = n
		}
		sum, ok := add(cur, op.By)
		if !ok {
			return Result{}, &ConflictError{Key: op.Key, Reason: ReasonOverflow}
		}
		v := formatInt(sum)
		ov.set(op.Key, v)
		r.Value = v
	default: // Validate refused any other op
		return Result{}, fmt.Errorf("%w: unknown op %q", ErrInvalid, op.Op)
	}
	return r, nil
}

// count is how many keys the object has as the overlay sees it.
func (ov *overlay) count() int64 {
	var n int64
	if !ov.cleared {
		ov.s.ascend(ov.object, keyRange{}, func(item) bool { n++; return true })
	}
	for k, v := range ov.writes {
		_, inBase := ov.s.Get(ov.object, k)
		inBase = inBase && !ov.cleared
		switch {
		case v != nil && !inBase:
			n++
		case v == nil && inBase:
			n--
		}
	}
	return n
}

// commit writes the overlay into the store.
func (ov *overlay) commit() {
	s := ov.s
	if ov.cleared {
		var gone []item
		s.ascend(ov.object, keyRange{}, func(it item) bool { gone = append(gone, it); return true })
		for _, it := range gone {
			s.tree.Delete(it)
		}
	}
	if len(ov.writes) == 0 {
		return
	}
	name := s.objectName(ov.object)
	for k, v := range ov.writes {
		if v == nil {
			s.tree.Delete(item{object: name, key: k})
		} else {
			s.tree.ReplaceOrInsert(item{object: name, key: k, value: v})
		}
	}
}

// clone copies v to a slice of its own exact size, so that the store neither
// aliases the caller's buffer nor keeps a larger one alive.
func clone(v json.RawMessage) json.RawMessage {
	return append(json.RawMessage(nil), v...)
}
