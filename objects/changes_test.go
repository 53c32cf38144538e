package objects

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestApplyChanges(t *testing.T) {
	base := map[string][]string{"o": {"a", "1", "b", "2", "c", "3"}}
	del := func(k string) Op { return Op{Op: OpDelete, Key: k} }
	put := func(k, v string) Op { return Op{Op: OpPut, Key: k, Value: json.RawMessage(v)} }
	tests := []struct {
		name string
		txn  Txn
		want []Change
	}{
		{"put and increment, sorted", Txn{Success: []Op{put("z", `"x"`), {Op: OpIncrement, Key: "a", By: 4}}},
			[]Change{{Key: "a", Value: json.RawMessage("5")}, {Key: "z", Value: json.RawMessage(`"x"`)}}},
		{"delete of a present key", Txn{Success: []Op{del("b")}}, []Change{{Key: "b", Deleted: true}}},
		{"delete of an absent key changes nothing", Txn{Success: []Op{del("nope")}}, nil},
		{"put then delete of a new key changes nothing", Txn{Success: []Op{put("n", "1"), del("n")}}, nil},
		{"get only", Txn{Success: []Op{{Op: OpGet, Key: "a"}}}, nil},
		{"delete_all then put one back", Txn{Success: []Op{{Op: OpDeleteAll}, put("b", "9")}},
			[]Change{{Key: "a", Deleted: true}, {Key: "b", Value: json.RawMessage("9")}, {Key: "c", Deleted: true}}},
		{"delete_all, put and delete again", Txn{Success: []Op{{Op: OpDeleteAll}, put("a", "7"), del("a")}},
			[]Change{{Key: "a", Deleted: true}, {Key: "b", Deleted: true}, {Key: "c", Deleted: true}}},
		{"failure branch", Txn{Compare: []Compare{{Key: "a", Op: CmpMissing}}, Success: []Op{put("s", "1")}, Failure: []Op{put("f", "2")}},
			[]Change{{Key: "f", Value: json.RawMessage("2")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStoreWith(t, base)
			plain := newStoreWith(t, base)
			res, got, err := s.ApplyChanges("o", tt.txn)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("changes = %+v, want %+v", got, tt.want)
			}
			// Same result and state as Apply.
			want := mustApply(t, plain, "o", tt.txn)
			if !reflect.DeepEqual(res, want) || !reflect.DeepEqual(dump(s), dump(plain)) {
				t.Fatalf("ApplyChanges differs from Apply: %+v / %v, want %+v / %v", res, dump(s), want, dump(plain))
			}
		})
	}
}

func TestApplyChangesConflictChangesNothing(t *testing.T) {
	s := newStoreWith(t, map[string][]string{"o": {"a", `"text"`}})
	_, changes, err := s.ApplyChanges("o", Txn{Success: []Op{{Op: OpPut, Key: "b", Value: json.RawMessage("1")}, {Op: OpIncrement, Key: "a", By: 1}}})
	if err == nil || changes != nil {
		t.Fatalf("got changes %+v, err %v; want a conflict and none", changes, err)
	}
	if got := dump(s); len(got) != 1 {
		t.Fatalf("state changed: %v", got)
	}
}

func TestObjects(t *testing.T) {
	s := newStoreWith(t, map[string][]string{
		"a":   {"k", "1"},
		"b-1": {"k", "1", "kk", `"xy"`},
		"b-2": {"x", "10"},
		"b-3": {"x", "10"},
		"c":   {"x", "1"},
	})
	names := func(infos []ObjectInfo) []string {
		var out []string
		for _, i := range infos {
			out = append(out, i.Name)
		}
		return out
	}
	tests := []struct {
		name     string
		opts     ObjectsOptions
		want     []string
		wantMore bool
	}{
		{"all", ObjectsOptions{}, []string{"a", "b-1", "b-2", "b-3", "c"}, false},
		{"prefix", ObjectsOptions{Prefix: "b-"}, []string{"b-1", "b-2", "b-3"}, false},
		{"page", ObjectsOptions{Prefix: "b-", Limit: 2}, []string{"b-1", "b-2"}, true},
		{"next page", ObjectsOptions{Prefix: "b-", StartAfter: "b-2", Limit: 2}, []string{"b-3"}, false},
		{"start after below prefix", ObjectsOptions{Prefix: "b-", StartAfter: "a"}, []string{"b-1", "b-2", "b-3"}, false},
		{"start after a name that is a prefix of others", ObjectsOptions{StartAfter: "b"}, []string{"b-1", "b-2", "b-3", "c"}, false},
		{"exact limit", ObjectsOptions{Limit: 5}, []string{"a", "b-1", "b-2", "b-3", "c"}, false},
		{"nothing", ObjectsOptions{Prefix: "zz"}, nil, false},
		{"hidden names left out", ObjectsOptions{Hide: "b-"}, []string{"a", "c"}, false},
		{"a page past hidden names", ObjectsOptions{Hide: "b-", Limit: 1, StartAfter: "a"}, []string{"c"}, false},
		{"hidden names at the end", ObjectsOptions{Hide: "c"}, []string{"a", "b-1", "b-2", "b-3"}, false},
		{"hidden within the prefix", ObjectsOptions{Prefix: "b-", Hide: "b-2"}, []string{"b-1", "b-3"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.Objects(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), tt.want) || more != tt.wantMore {
				t.Fatalf("got %v more=%v, want %v more=%v", names(got), more, tt.want, tt.wantMore)
			}
		})
	}
	got, _, _ := s.Objects(ObjectsOptions{Prefix: "b-1"})
	if want := (ObjectInfo{Name: "b-1", Keys: 2, Bytes: int64(len("k1kk") + len(`"xy"`))}); len(got) != 1 || got[0] != want {
		t.Fatalf("b-1 = %+v, want %+v", got, want)
	}
	if _, _, err := s.Objects(ObjectsOptions{Limit: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}
