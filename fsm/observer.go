package fsm

import (
	"github.com/dobj/dobj/objects"
)

// ObjectChange is what one log entry did to one object: the keys its
// commands changed, with their new values or deleted, in key order. The
// commands of one entry (a group-committed batch) that touch the same
// object are merged into one ObjectChange, the later command's value
// winning, so that (Index, Object) names one change.
type ObjectChange struct {
	Index   uint64
	Object  string
	Changes []objects.Change
}

// Observer hears of what the Machine applies, for watchers. It is called
// from Raft's FSM goroutine, in log order, after the state is changed and
// before the applied index moves past it, so that a reader who saw index
// I can count on the Observer having heard of every change up to I. It
// must not block, and must not modify what it is given (values share the
// store's memory). It has no say in Apply's result: the state and every
// response are the same with or without one.
type Observer interface {
	// ObjectsChanged reports the changes of one ApplyBatch, in index
	// order; entries that changed no object are left out.
	ObjectsChanged(changes []ObjectChange)
	// Restored reports that the state was replaced by a snapshot taken
	// at index: changes before it will never be reported.
	Restored(index uint64)
}

// observed collects the changes of the batch being applied; mu is held.
type observed struct {
	changes []ObjectChange
	// at is where (index, object) sits in changes, for the entry being
	// applied; it is cleared at each new index.
	at      map[string]int
	atIndex uint64
}

// applyTxnToStore applies txn to object, recording its changes when the
// Machine has an Observer.
func (m *Machine) applyTxnToStore(object string, txn objects.Txn, index uint64) (objects.TxnResult, error) {
	if m.opts.Observer == nil {
		return m.store.Apply(object, txn)
	}
	res, changes, err := m.store.ApplyChanges(object, txn)
	if err == nil && len(changes) > 0 {
		m.obs.record(index, object, changes)
	}
	return res, err
}

func (o *observed) record(index uint64, object string, changes []objects.Change) {
	if o.at == nil || o.atIndex != index {
		o.at = map[string]int{}
		o.atIndex = index
	}
	if i, ok := o.at[object]; ok {
		o.changes[i].Changes = mergeChanges(o.changes[i].Changes, changes)
		return
	}
	o.at[object] = len(o.changes)
	o.changes = append(o.changes, ObjectChange{Index: index, Object: object, Changes: changes})
}

// notify hands the batch's changes to the Observer and forgets them; mu
// must not be held (the Observer takes locks of its own).
func (m *Machine) notify() {
	if m.opts.Observer == nil || len(m.obs.changes) == 0 {
		return
	}
	changes := m.obs.changes
	m.obs.changes, m.obs.at = nil, nil
	m.opts.Observer.ObjectsChanged(changes)
}

// mergeChanges merges two key-ordered change lists; b's entry wins for a
// key in both.
func mergeChanges(a, b []objects.Change) []objects.Change {
	out := make([]objects.Change, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Key < b[j].Key:
			out = append(out, a[i])
			i++
		case a[i].Key > b[j].Key:
			out = append(out, b[j])
			j++
		default:
			out = append(out, b[j])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
