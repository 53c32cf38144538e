package objects

import (
	"fmt"
	"strings"
)

// ObjectInfo is one object as a listing of objects shows it: its name,
// how many keys it holds and their size (keys plus values, in bytes).
type ObjectInfo struct {
	Name  string `json:"name"`
	Keys  int    `json:"keys"`
	Bytes int64  `json:"bytes"`
}

// ObjectsOptions page through object names in byte order: names with
// Prefix, after StartAfter (exclusive), at most Limit (0: no limit).
// Names starting with Hide, when it is set, are left out (and cost
// nothing: the walk jumps over them).
type ObjectsOptions struct {
	Prefix     string
	StartAfter string
	Limit      int
	Hide       string
}

// Objects lists the objects that hold at least one key, in name byte
// order, and whether more follow the page. Counting visits every key of
// the listed objects, so a page costs time in their total size, not only
// in Limit.
func (s *Store) Objects(o ObjectsOptions) (out []ObjectInfo, more bool, err error) {
	if o.Limit < 0 {
		return nil, false, fmt.Errorf("%w: negative limit %d", ErrInvalid, o.Limit)
	}
	from := o.Prefix
	if o.StartAfter != "" && o.StartAfter+"\x00" > from {
		from = o.StartAfter + "\x00" // the least name after StartAfter
	}
	end, bounded := prefixEnd(o.Prefix)
	out = make([]ObjectInfo, 0, min(o.Limit, 64)) // never nil: encodes as []
	hideEnd, hideBounded := prefixEnd(o.Hide)
	for walking := true; walking; {
		walking = false
		s.tree.AscendGreaterOrEqual(item{object: from}, func(it item) bool {
			if bounded && it.object >= end {
				return false
			}
			if o.Hide != "" && strings.HasPrefix(it.object, o.Hide) {
				// Walk on from past the hidden names, if any follow.
				from, walking = hideEnd, hideBounded
				return false
			}
			if n := len(out); n == 0 || out[n-1].Name != it.object {
				if o.Limit > 0 && n == o.Limit {
					more = true
					return false
				}
				out = append(out, ObjectInfo{Name: it.object})
			}
			last := &out[len(out)-1]
			last.Keys++
			last.Bytes += int64(len(it.key) + len(it.value))
			return true
		})
	}
	return out, more, nil
}
