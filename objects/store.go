package objects

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"

	"github.com/google/btree"
)

// degree of the btree: nodes of 31..63 items keep the tree shallow and the
// copy made on a copy-on-write miss small.
const degree = 32

// item is one stored key: the only per-key allocation besides the strings and
// the value bytes themselves.
type item struct {
	object string
	key    string
	value  json.RawMessage
}

// less orders items by object, then key, both in byte order.
func less(a, b item) bool {
	if a.object != b.object {
		return a.object < b.object
	}
	return a.key < b.key
}

// Store holds every object's keys in one btree ordered by (object, key).
// An object exists exactly while it has at least one key.
//
// Values handed out (Get, List, Ascend, Result) share memory with the store:
// callers must not modify them. The store never modifies a value in place.
type Store struct {
	tree *btree.BTreeG[item]
	// lastObject is the object name of the last Load, so that a Restore
	// that loads in order shares one copy of each name among its keys.
	lastObject string
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{tree: btree.NewG(degree, less)}
}

// Clone returns a copy of s in O(1): both share the tree's nodes and each
// copies a node on its first write to it. The clone and s may then be used
// concurrently (FSM snapshots read the clone while s keeps applying). Clone
// itself writes to s (google/btree marks the shared nodes copy-on-write):
// it must not run concurrently with a write to s, or with another Clone.
func (s *Store) Clone() *Store {
	return &Store{tree: s.tree.Clone()}
}

// Get returns the value of key in object.
func (s *Store) Get(object, key string) (json.RawMessage, bool) {
	it, ok := s.tree.Get(item{object: object, key: key})
	return it.value, ok
}

// Ascend calls fn for every entry of every object in (object, key) order
// until fn returns false.
func (s *Store) Ascend(fn func(object, key string, value json.RawMessage) bool) {
	s.tree.Ascend(func(it item) bool { return fn(it.object, it.key, it.value) })
}

// Load inserts (or replaces) one entry without any check; Restore uses it to
// rebuild a store from a snapshot. The value is copied.
func (s *Store) Load(object, key string, value json.RawMessage) {
	if object == s.lastObject {
		object = s.lastObject // share the name's bytes among the object's keys
	} else {
		s.lastObject = object
	}
	s.tree.ReplaceOrInsert(item{object: object, key: key, value: clone(value)})
}

// Len is the number of keys across all objects.
func (s *Store) Len() int { return s.tree.Len() }

// Digest is a sha256 over every entry in (object, key) order, each of object,
// key and value prefixed by its length, so that equal digests mean equal
// contents (("a","bc") and ("ab","c") differ). Replicas compare it.
func (s *Store) Digest() [32]byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var buf []byte
	s.tree.Ascend(func(it item) bool {
		buf = append(buf[:0], it.object...)
		field(buf)
		buf = append(buf[:0], it.key...)
		field(buf)
		field(it.value)
		return true
	})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// objectName returns a copy of object's name that shares the bytes already
// held by the object's stored keys, if it has any, so that each new key does
// not keep its own copy of the name.
func (s *Store) objectName(object string) string {
	name := object
	s.tree.AscendGreaterOrEqual(item{object: object}, func(it item) bool {
		if it.object == object {
			name = it.object
		}
		return false
	})
	return name
}
