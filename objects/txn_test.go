package objects

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestApplyOps(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	// Every case starts from o = {k: 1, s: "x"} and neighbours p = {k: 2}, o\x00 = {k: 3}.
	tests := []struct {
		name    string
		ops     []Op
		results []Result
		after   []string // o's entries afterwards
	}{
		{"get found", []Op{{Op: OpGet, Key: "k"}},
			[]Result{{Op: OpGet, Key: "k", Found: ptr(true), Value: raw(`1`)}}, []string{"k=1", "s=\"x\""}},
		{"get absent", []Op{{Op: OpGet, Key: "z"}},
			[]Result{{Op: OpGet, Key: "z", Found: ptr(false)}}, []string{"k=1", "s=\"x\""}},
		{"put new", []Op{{Op: OpPut, Key: "n", Value: raw(`{"a":[1]}`)}},
			[]Result{{Op: OpPut, Key: "n"}}, []string{"k=1", "n={\"a\":[1]}", "s=\"x\""}},
		{"put replace", []Op{{Op: OpPut, Key: "k", Value: raw(`null`)}},
			[]Result{{Op: OpPut, Key: "k"}}, []string{"k=null", "s=\"x\""}},
		{"delete found", []Op{{Op: OpDelete, Key: "k"}},
			[]Result{{Op: OpDelete, Key: "k", Deleted: ptr(true)}}, []string{"s=\"x\""}},
		{"delete absent", []Op{{Op: OpDelete, Key: "z"}},
			[]Result{{Op: OpDelete, Key: "z", Deleted: ptr(false)}}, []string{"k=1", "s=\"x\""}},
		{"delete_all", []Op{{Op: OpDeleteAll}},
			[]Result{{Op: OpDeleteAll, Count: ptr[int64](2)}}, nil},
		{"increment", []Op{{Op: OpIncrement, Key: "k", By: 5}},
			[]Result{{Op: OpIncrement, Key: "k", Value: raw(`6`)}}, []string{"k=6", "s=\"x\""}},
		{"decrement absent", []Op{{Op: OpIncrement, Key: "n", By: -2}},
			[]Result{{Op: OpIncrement, Key: "n", Value: raw(`-2`)}}, []string{"k=1", "n=-2", "s=\"x\""}},
		{"no ops", nil, []Result{}, []string{"k=1", "s=\"x\""}},

		// Later ops see earlier ones.
		{"put then get", []Op{{Op: OpPut, Key: "n", Value: raw(`7`)}, {Op: OpGet, Key: "n"}},
			[]Result{{Op: OpPut, Key: "n"}, {Op: OpGet, Key: "n", Found: ptr(true), Value: raw(`7`)}},
			[]string{"k=1", "n=7", "s=\"x\""}},
		{"delete then get then delete", []Op{{Op: OpDelete, Key: "k"}, {Op: OpGet, Key: "k"}, {Op: OpDelete, Key: "k"}},
			[]Result{{Op: OpDelete, Key: "k", Deleted: ptr(true)}, {Op: OpGet, Key: "k", Found: ptr(false)}, {Op: OpDelete, Key: "k", Deleted: ptr(false)}},
			[]string{"s=\"x\""}},
		{"delete then put", []Op{{Op: OpDelete, Key: "k"}, {Op: OpPut, Key: "k", Value: raw(`2`)}},
			[]Result{{Op: OpDelete, Key: "k", Deleted: ptr(true)}, {Op: OpPut, Key: "k"}},
			[]string{"k=2", "s=\"x\""}},
		{"increment twice", []Op{{Op: OpIncrement, Key: "k", By: 1}, {Op: OpIncrement, Key: "k", By: 10}},
			[]Result{{Op: OpIncrement, Key: "k", Value: raw(`2`)}, {Op: OpIncrement, Key: "k", Value: raw(`12`)}},
			[]string{"k=12", "s=\"x\""}},
		{"put integer then increment", []Op{{Op: OpPut, Key: "s", Value: raw(`40`)}, {Op: OpIncrement, Key: "s", By: 2}},
			[]Result{{Op: OpPut, Key: "s"}, {Op: OpIncrement, Key: "s", Value: raw(`42`)}},
			[]string{"k=1", "s=42"}},
		{"delete then increment", []Op{{Op: OpDelete, Key: "s"}, {Op: OpIncrement, Key: "s", By: 1}},
			[]Result{{Op: OpDelete, Key: "s", Deleted: ptr(true)}, {Op: OpIncrement, Key: "s", Value: raw(`1`)}},
			[]string{"k=1", "s=1"}},
		{"put, delete_all counts it, get", []Op{{Op: OpPut, Key: "n", Value: raw(`1`)}, {Op: OpPut, Key: "k", Value: raw(`5`)}, {Op: OpDelete, Key: "s"}, {Op: OpDeleteAll}, {Op: OpGet, Key: "k"}},
			[]Result{{Op: OpPut, Key: "n"}, {Op: OpPut, Key: "k"}, {Op: OpDelete, Key: "s", Deleted: ptr(true)}, {Op: OpDeleteAll, Count: ptr[int64](2)}, {Op: OpGet, Key: "k", Found: ptr(false)}},
			nil},
		{"delete_all then put then delete_all", []Op{{Op: OpDeleteAll}, {Op: OpPut, Key: "k", Value: raw(`1`)}, {Op: OpDeleteAll}, {Op: OpDeleteAll}},
			[]Result{{Op: OpDeleteAll, Count: ptr[int64](2)}, {Op: OpPut, Key: "k"}, {Op: OpDeleteAll, Count: ptr[int64](1)}, {Op: OpDeleteAll, Count: ptr[int64](0)}},
			nil},
		{"delete_all then put", []Op{{Op: OpDeleteAll}, {Op: OpPut, Key: "k", Value: raw(`9`)}, {Op: OpGet, Key: "s"}},
			[]Result{{Op: OpDeleteAll, Count: ptr[int64](2)}, {Op: OpPut, Key: "k"}, {Op: OpGet, Key: "s", Found: ptr(false)}},
			[]string{"k=9"}},
		{"delete_all then increment", []Op{{Op: OpDeleteAll}, {Op: OpIncrement, Key: "k", By: 1}},
			[]Result{{Op: OpDeleteAll, Count: ptr[int64](2)}, {Op: OpIncrement, Key: "k", Value: raw(`1`)}},
			[]string{"k=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStoreWith(t, map[string][]string{"o": {"k", `1`, "s", `"x"`}, "p": {"k", `2`}, "o\x00": {"k", `3`}})
			res := mustApply(t, s, "o", Txn{Success: tt.ops})
			if !res.Succeeded || !reflect.DeepEqual(res.Results, tt.results) {
				t.Fatalf("result = %s, want succeeded %s", jsonString(res), jsonString(tt.results))
			}
			var after []string
			for _, e := range mustList(t, s, "o") {
				after = append(after, e.Key+"="+string(e.Value))
			}
			if !equalStrings(after, tt.after) {
				t.Fatalf("o = %q, want %q", after, tt.after)
			}
			if got := dump(s); !equalStrings(got[len(got)-2:], []string{"o\x00/k=3", "p/k=2"}) {
				t.Fatalf("neighbouring objects changed: %q", got)
			}
			if s.Len() != len(tt.after)+2 {
				t.Fatalf("Len = %d, want %d", s.Len(), len(tt.after)+2)
			}
		})
	}
}

func TestApplyCompare(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name string
		cmp  []Compare
		want bool
	}{
		{"none", nil, true},
		{"equal holds", []Compare{{Key: "k", Op: CmpEqual, Value: raw(`5`)}}, true},
		{"equal other value", []Compare{{Key: "k", Op: CmpEqual, Value: raw(`6`)}}, false},
		{"equal same number other bytes", []Compare{{Key: "k", Op: CmpEqual, Value: raw(`5.0`)}}, false},
		{"equal absent", []Compare{{Key: "z", Op: CmpEqual, Value: raw(`5`)}}, false},
		{"equal absent null", []Compare{{Key: "z", Op: CmpEqual, Value: raw(`null`)}}, false},
		{"not_equal other value", []Compare{{Key: "k", Op: CmpNotEqual, Value: raw(`6`)}}, true},
		{"not_equal same value", []Compare{{Key: "k", Op: CmpNotEqual, Value: raw(`5`)}}, false},
		{"not_equal absent", []Compare{{Key: "z", Op: CmpNotEqual, Value: raw(`5`)}}, true},
		{"exists present", []Compare{{Key: "k", Op: CmpExists}}, true},
		{"exists absent", []Compare{{Key: "z", Op: CmpExists}}, false},
		{"exists in neighbour object only", []Compare{{Key: "n", Op: CmpExists}}, false},
		{"missing absent", []Compare{{Key: "z", Op: CmpMissing}}, true},
		{"missing present", []Compare{{Key: "k", Op: CmpMissing}}, false},
		{"all hold", []Compare{{Key: "k", Op: CmpExists}, {Key: "z", Op: CmpMissing}, {Key: "k", Op: CmpEqual, Value: raw(`5`)}}, true},
		{"last fails", []Compare{{Key: "k", Op: CmpExists}, {Key: "z", Op: CmpMissing}, {Key: "k", Op: CmpMissing}}, false},
		{"first fails", []Compare{{Key: "z", Op: CmpExists}, {Key: "k", Op: CmpExists}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStoreWith(t, map[string][]string{"o": {"k", `5`}, "o2": {"n", `1`}})
			res := mustApply(t, s, "o", Txn{
				Compare: tt.cmp,
				Success: []Op{{Op: OpPut, Key: "branch", Value: raw(`"success"`)}, {Op: OpGet, Key: "k"}},
				Failure: []Op{{Op: OpPut, Key: "branch", Value: raw(`"failure"`)}},
			})
			if res.Succeeded != tt.want {
				t.Fatalf("Succeeded = %v, want %v", res.Succeeded, tt.want)
			}
			wantBranch, wantResults := `"failure"`, 1
			if tt.want {
				wantBranch, wantResults = `"success"`, 2
			}
			if v, _ := s.Get("o", "branch"); string(v) != wantBranch {
				t.Fatalf("branch applied = %s, want %s", v, wantBranch)
			}
			if len(res.Results) != wantResults {
				t.Fatalf("results = %+v, want %d of them", res.Results, wantResults)
			}
		})
	}
}

func TestApplyComparesSeeStateBeforeOps(t *testing.T) {
	// Compares are evaluated before any op: a success op cannot make a later
	// compare hold or fail.
	s := newStoreWith(t, map[string][]string{"o": {"k", `1`}})
	res := mustApply(t, s, "o", Txn{
		Compare: []Compare{{Key: "k", Op: CmpEqual, Value: json.RawMessage(`1`)}, {Key: "n", Op: CmpMissing}},
		Success: []Op{{Op: OpPut, Key: "n", Value: json.RawMessage(`1`)}, {Op: OpIncrement, Key: "k", By: 1}},
	})
	if !res.Succeeded {
		t.Fatal("compares did not hold")
	}
	res = mustApply(t, s, "o", Txn{
		Compare: []Compare{{Key: "k", Op: CmpEqual, Value: json.RawMessage(`1`)}},
		Success: []Op{{Op: OpIncrement, Key: "k", By: 1}},
		Failure: []Op{{Op: OpGet, Key: "k"}},
	})
	if res.Succeeded || string(res.Results[0].Value) != `2` {
		t.Fatalf("second txn = %s, want failure branch reading 2", jsonString(res))
	}
}

func TestApplyAtomic(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name    string
		txn     Txn
		invalid bool
		key     string // conflicting key
		reason  string
	}{
		{"not an integer in 3rd op", Txn{Success: []Op{
			{Op: OpPut, Key: "a", Value: raw(`100`)},
			{Op: OpDelete, Key: "b"},
			{Op: OpIncrement, Key: "s", By: 1},
		}}, false, "s", ReasonNotInteger},
		{"overflow in 3rd op", Txn{Success: []Op{
			{Op: OpIncrement, Key: "a", By: 1},
			{Op: OpDeleteAll},
			{Op: OpIncrement, Key: "n", By: math.MaxInt64},
			{Op: OpIncrement, Key: "n", By: 1},
		}}, false, "n", ReasonOverflow},
		{"earlier op makes a later one conflict", Txn{Success: []Op{
			{Op: OpPut, Key: "new", Value: raw(`1`)},
			{Op: OpPut, Key: "a", Value: raw(`"text"`)},
			{Op: OpIncrement, Key: "a", By: 1},
		}}, false, "a", ReasonNotInteger},
		{"conflict in failure branch", Txn{
			Compare: []Compare{{Key: "a", Op: CmpMissing}},
			Failure: []Op{{Op: OpDelete, Key: "a"}, {Op: OpPut, Key: "x", Value: raw(`1`)}, {Op: OpIncrement, Key: "s", By: -1}},
		}, false, "s", ReasonNotInteger},
		{"invalid 3rd op", Txn{Success: []Op{
			{Op: OpPut, Key: "a", Value: raw(`100`)},
			{Op: OpDelete, Key: "b"},
			{Op: "frobnicate", Key: "a"},
		}}, true, "", ""},
		{"invalid op in the branch not taken", Txn{
			Success: []Op{{Op: OpPut, Key: "a", Value: raw(`100`)}},
			Failure: []Op{{Op: OpPut, Key: "a"}},
		}, true, "", ""},
		{"invalid compare", Txn{
			Compare: []Compare{{Key: "a", Op: "greater"}},
			Success: []Op{{Op: OpPut, Key: "a", Value: raw(`100`)}},
		}, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStoreWith(t, map[string][]string{"o": {"a", `1`, "b", `2`, "s", `"x"`}, "p": {"a", `1`}})
			before, digest := dump(s), s.Digest()
			res, err := s.Apply("o", tt.txn)
			if tt.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
			} else {
				wantConflict(t, err, tt.key, tt.reason)
			}
			if res.Succeeded || res.Results != nil {
				t.Fatalf("result on error = %+v, want zero", res)
			}
			if got := dump(s); !equalStrings(got, before) || s.Digest() != digest || s.Len() != 4 {
				t.Fatalf("store changed by a failed txn: %q, want %q", got, before)
			}
		})
	}
}

func TestApplyDoesNotKeepCallerBuffers(t *testing.T) {
	s := NewStore()
	v := []byte(`"abc"`)
	mustApply(t, s, "o", Txn{Success: []Op{{Op: OpPut, Key: "k", Value: v}}})
	v[1] = 'z'
	if got, _ := s.Get("o", "k"); string(got) != `"abc"` {
		t.Fatalf("stored value changed with the caller's buffer: %s", got)
	}
}

func TestDeletedLastKeyLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		ops  []Op
	}{
		{"delete each", []Op{{Op: OpDelete, Key: "a"}, {Op: OpDelete, Key: "b"}}},
		{"delete_all", []Op{{Op: OpDeleteAll}}},
		{"put then delete_all", []Op{{Op: OpPut, Key: "c", Value: json.RawMessage(`1`)}, {Op: OpDeleteAll}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStoreWith(t, map[string][]string{"o": {"a", `1`, "b", `2`}})
			mustApply(t, s, "o", Txn{Success: tt.ops})
			if s.Len() != 0 || s.tree.Len() != 0 || len(dump(s)) != 0 || s.Digest() != NewStore().Digest() {
				t.Fatalf("store not empty: %q", dump(s))
			}
			if entries := mustList(t, s, "o"); len(entries) != 0 {
				t.Fatalf("List = %+v", entries)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name    string
		txn     Txn
		wantErr string // "" = valid; else a substring of the error
	}{
		{"empty", Txn{}, ""},
		{"every op and compare", Txn{
			Compare: []Compare{{Key: "k", Op: CmpEqual, Value: raw(`1`)}, {Key: "k", Op: CmpNotEqual, Value: raw(`"x"`)}, {Key: "k", Op: CmpExists}, {Key: "k", Op: CmpMissing}},
			Success: []Op{{Op: OpGet, Key: "k"}, {Op: OpPut, Key: "k", Value: raw(`null`)}, {Op: OpDelete, Key: "k"}, {Op: OpIncrement, Key: "k", By: -1}, {Op: OpDeleteAll}},
			Failure: []Op{{Op: OpIncrement, Key: "k"}},
		}, ""},
		{"unknown op", Txn{Success: []Op{{Op: "incr", Key: "k"}}}, `success[0]: unknown op "incr"`},
		{"empty op", Txn{Success: []Op{{Key: "k"}}}, `unknown op ""`},
		{"unknown op in failure", Txn{Failure: []Op{{Op: OpGet, Key: "k"}, {Op: "PUT", Key: "k", Value: raw(`1`)}}}, `failure[1]: unknown op "PUT"`},
		{"unknown compare op", Txn{Compare: []Compare{{Key: "k", Op: "less"}}}, `compare[0]: unknown compare op "less"`},
		{"empty key get", Txn{Success: []Op{{Op: OpGet}}}, "get: empty key"},
		{"empty key put", Txn{Success: []Op{{Op: OpPut, Value: raw(`1`)}}}, "put: empty key"},
		{"empty key delete", Txn{Success: []Op{{Op: OpDelete}}}, "delete: empty key"},
		{"empty key increment", Txn{Success: []Op{{Op: OpIncrement, By: 1}}}, "increment: empty key"},
		{"empty key compare", Txn{Compare: []Compare{{Op: CmpExists}}}, "exists: empty key"},
		{"put without value", Txn{Success: []Op{{Op: OpPut, Key: "k"}}}, "missing value"},
		{"put with invalid JSON", Txn{Success: []Op{{Op: OpPut, Key: "k", Value: raw(`{`)}}}, "not JSON"},
		{"equal without value", Txn{Compare: []Compare{{Key: "k", Op: CmpEqual}}}, "compare[0]: missing value"},
		{"not_equal without value", Txn{Compare: []Compare{{Key: "k", Op: CmpNotEqual}}}, "compare[0]: missing value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.txn.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func mustList(t *testing.T, s *Store, object string) []Entry {
	t.Helper()
	entries, _, err := s.List(object, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
