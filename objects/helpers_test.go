package objects

import (
	"encoding/json"
	"errors"
	"testing"
)

// put returns a txn that puts each key/value pair (key, json, key, json, ...).
func puts(kv ...string) Txn {
	var t Txn
	for i := 0; i+1 < len(kv); i += 2 {
		t.Success = append(t.Success, Op{Op: OpPut, Key: kv[i], Value: json.RawMessage(kv[i+1])})
	}
	return t
}

// newStoreWith returns a store holding the given object -> key/value pairs.
func newStoreWith(t *testing.T, data map[string][]string) *Store {
	t.Helper()
	s := NewStore()
	for object, kv := range data {
		mustApply(t, s, object, puts(kv...))
	}
	return s
}

func mustApply(t *testing.T, s *Store, object string, txn Txn) TxnResult {
	t.Helper()
	res, err := s.Apply(object, txn)
	if err != nil {
		t.Fatalf("Apply(%q, %+v): %v", object, txn, err)
	}
	return res
}

// dump is every entry of s as "object/key=value" in order.
func dump(s *Store) []string {
	var out []string
	s.Ascend(func(object, key string, value json.RawMessage) bool {
		out = append(out, object+"/"+key+"="+string(value))
		return true
	})
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wantConflict fails unless err is a *ConflictError with the given key and reason.
func wantConflict(t *testing.T, err error, key, reason string) {
	t.Helper()
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	if ce.Key != key || ce.Reason != reason {
		t.Fatalf("conflict = %+v, want key %q reason %q", ce, key, reason)
	}
}

func ptr[T any](v T) *T { return &v }
