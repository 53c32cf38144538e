package objects

import (
	"encoding/json"
	"sort"
)

// Change is one key a transaction wrote, with the value it left: Value is
// nil and Deleted true when the key is gone. Watchers receive these.
type Change struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
}

// ApplyChanges is Apply that also returns the keys the transaction changed,
// in key byte order (never map order: replicas must report the same list).
// A key counts as changed when an applied op wrote it (put, increment), or
// removed it while it existed (delete, delete_all); a put of the value the
// key already had still counts. A failed transaction changes nothing and
// returns no changes. Values share the store's memory.
func (s *Store) ApplyChanges(object string, t Txn) (TxnResult, []Change, error) {
	return s.apply(object, t, true)
}

// changes lists what commit is about to do, before it does it: every key
// written, and with a delete_all every stored key not written again.
func (ov *overlay) changes() []Change {
	var out []Change
	if ov.cleared {
		ov.s.ascend(ov.object, keyRange{}, func(it item) bool {
			if _, rewritten := ov.writes[it.key]; !rewritten {
				out = append(out, Change{Key: it.key, Deleted: true})
			}
			return true
		})
	}
	for k, v := range ov.writes {
		if v == nil {
			// A delete counts only if the key is in the store: one put
			// and deleted within the transaction never existed for a
			// watcher.
			if _, found := ov.s.Get(ov.object, k); !found {
				continue
			}
			out = append(out, Change{Key: k, Deleted: true})
			continue
		}
		out = append(out, Change{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
