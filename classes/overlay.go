package classes

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/dobj/dobj/objects"
)

// overlay is one call's writes on top of the object's committed State:
// reads see both, and at the end it becomes the call's Effects.
type overlay struct {
	// cleared: deleteAll ran, so State holds nothing this call can see.
	cleared bool
	// writes maps each key written to its new value; nil is deleted.
	writes map[string]json.RawMessage
	alarm  *AlarmChange
}

// get returns key's value as this call sees it.
func (o *overlay) get(st State, key string) (json.RawMessage, bool) {
	if v, ok := o.writes[key]; ok {
		return v, v != nil
	}
	if o.cleared {
		return nil, false
	}
	return st.Get(key)
}

func (o *overlay) put(key string, v json.RawMessage) {
	if o.writes == nil {
		o.writes = make(map[string]json.RawMessage)
	}
	o.writes[key] = v
}

// del deletes key and reports whether it was there.
func (o *overlay) del(st State, key string) bool {
	_, found := o.get(st, key)
	if o.writes == nil {
		o.writes = make(map[string]json.RawMessage)
	}
	o.writes[key] = nil
	return found
}

func (o *overlay) deleteAll() {
	o.cleared = true
	clear(o.writes)
}

// alarmAt returns the alarm as this call sees it.
func (o *overlay) alarmAt(st State) (int64, bool) {
	if o.alarm != nil {
		return o.alarm.At, !o.alarm.Delete
	}
	return st.Alarm()
}

// list is State.List merged with the writes, under the same options.
func (o *overlay) list(st State, opts objects.ListOptions) []objects.Entry {
	var mine []string // keys written in range
	for k := range o.writes {
		if inRange(k, opts) {
			mine = append(mine, k)
		}
	}
	var committed []objects.Entry
	if !o.cleared {
		so := opts
		if so.Limit > 0 {
			// Each written key hides at most one committed entry.
			so.Limit += len(mine)
		}
		committed = st.List(so)
	}
	out := make([]objects.Entry, 0, len(committed)+len(mine))
	for _, e := range committed {
		if _, ok := o.writes[e.Key]; !ok {
			out = append(out, e)
		}
	}
	for _, k := range mine {
		if v := o.writes[k]; v != nil {
			out = append(out, objects.Entry{Key: k, Value: v})
		}
	}
	slices.SortFunc(out, func(a, b objects.Entry) int {
		if opts.Reverse {
			return strings.Compare(b.Key, a.Key)
		}
		return strings.Compare(a.Key, b.Key)
	})
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out
}

// inRange reports whether key is within list options' range.
func inRange(key string, o objects.ListOptions) bool {
	switch {
	case !strings.HasPrefix(key, o.Prefix):
		return false
	case o.Start != "" && key < o.Start:
		return false
	case o.StartAfter != "" && key <= o.StartAfter:
		return false
	case o.End != "" && key >= o.End:
		return false
	}
	return true
}

// clone copies o, for a transaction to roll back to.
func (o *overlay) clone() overlay {
	c := overlay{cleared: o.cleared, writes: maps.Clone(o.writes)}
	if o.alarm != nil {
		a := *o.alarm
		c.alarm = &a
	}
	return c
}

// effects are o's writes as ops: a delete-all first when the call cleared
// the object, then puts and deletes in key order.
func (o *overlay) effects() Effects {
	var ops []objects.Op
	if o.cleared {
		ops = append(ops, objects.Op{Op: objects.OpDeleteAll})
	}
	for _, k := range slices.Sorted(maps.Keys(o.writes)) {
		v := o.writes[k]
		switch {
		case v != nil:
			ops = append(ops, objects.Op{Op: objects.OpPut, Key: k, Value: v})
		case !o.cleared: // after a delete-all the key is gone already
			ops = append(ops, objects.Op{Op: objects.OpDelete, Key: k})
		}
	}
	return Effects{Ops: ops, Alarm: o.alarm}
}
