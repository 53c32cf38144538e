package objects

import "fmt"

// List returns object's entries in key byte order (reverse order with
// Reverse), as Durable Objects' list(): keys with Prefix, from Start
// (inclusive) or StartAfter (exclusive), up to End (exclusive). With Limit >
// 0 at most Limit entries are returned — with Reverse, the last Limit of the
// range — and more tells whether the range held further entries. A range that
// is empty (End before Start) is no error. Setting both Start and StartAfter,
// or a negative Limit, is ErrInvalid. Values share the store's memory and
// must not be modified.
//
// Only the requested range is walked, never the whole object.
func (s *Store) List(object string, o ListOptions) (entries []Entry, more bool, err error) {
	if o.Start != "" && o.StartAfter != "" {
		return nil, false, fmt.Errorf("%w: start and startAfter are both set", ErrInvalid)
	}
	if o.Limit < 0 {
		return nil, false, fmt.Errorf("%w: negative limit %d", ErrInvalid, o.Limit)
	}
	r := newKeyRange(o)
	entries = make([]Entry, 0, min(o.Limit, 64)) // never nil: encodes as []
	visit := func(it item) bool {
		if o.Limit > 0 && len(entries) == o.Limit {
			more = true
			return false
		}
		entries = append(entries, Entry{Key: it.key, Value: it.value})
		return true
	}
	if o.Reverse {
		s.descend(object, r, visit)
	} else {
		s.ascend(object, r, visit)
	}
	return entries, more, nil
}

// keyRange is a range of keys within one object. An empty string bound is
// no bound (keys are never empty). A prefix is folded into the bounds: the
// keys in [prefix, prefixEnd(prefix)) are exactly those with the prefix, and
// when prefixEnd has none (all 0xff), every key >= prefix has the prefix.
type keyRange struct {
	lo     string // lowest key, "" = none
	loExcl bool   // lo itself is excluded (startAfter)
	hi     string // keys are < hi, "" = none
}

func newKeyRange(o ListOptions) keyRange {
	var r keyRange
	switch {
	case o.Start != "":
		r.lo = o.Start
	case o.StartAfter != "":
		r.lo, r.loExcl = o.StartAfter, true
	}
	// The prefix bounds the range from below when it is above the start.
	if o.Prefix > r.lo {
		r.lo, r.loExcl = o.Prefix, false
	}
	r.hi = o.End
	if succ, ok := prefixEnd(o.Prefix); ok && (r.hi == "" || succ < r.hi) {
		r.hi = succ
	}
	return r
}

// below reports whether key is under r's lower bound.
func (r keyRange) below(key string) bool {
	return key < r.lo || (r.loExcl && key == r.lo)
}

// above reports whether key is at or over r's upper bound.
func (r keyRange) above(key string) bool {
	return r.hi != "" && key >= r.hi
}

// prefixEnd is the least string greater than every string with prefix p;
// false when there is none (p is empty or all 0xff).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// ascend visits object's items in r in ascending key order.
func (s *Store) ascend(object string, r keyRange, fn func(item) bool) {
	s.tree.AscendGreaterOrEqual(item{object: object, key: r.lo}, func(it item) bool {
		if it.object != object || r.above(it.key) {
			return false
		}
		if r.below(it.key) {
			return true // only lo itself, when it is excluded
		}
		return fn(it)
	})
}

// descend visits object's items in r in descending key order.
func (s *Store) descend(object string, r keyRange, fn func(item) bool) {
	// Start at the upper bound: (object, hi) or, with no upper bound, the
	// least item of any later object, (object+"\x00", "").
	pivot := item{object: object, key: r.hi}
	if r.hi == "" {
		pivot = item{object: object + "\x00"}
	}
	s.tree.DescendLessOrEqual(pivot, func(it item) bool {
		if it.object != object {
			return it.object > object // skip the pivot of the next object; stop at earlier objects
		}
		if r.above(it.key) {
			return true // only hi itself
		}
		if r.below(it.key) {
			return false
		}
		return fn(it)
	})
}
