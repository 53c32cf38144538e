package objects

import (
	"encoding/json"
	"testing"
)

func TestOpJSON(t *testing.T) {
	decode := []struct {
		in   string
		want Op
	}{
		{`{"op":"increment","key":"n"}`, Op{Op: OpIncrement, Key: "n", By: 1}},
		{`{"op":"increment","key":"n","by":0}`, Op{Op: OpIncrement, Key: "n", By: 0}},
		{`{"op":"increment","key":"n","by":-3}`, Op{Op: OpIncrement, Key: "n", By: -3}},
		{`{"op":"put","key":"k","value":{"a":1}}`, Op{Op: OpPut, Key: "k", Value: json.RawMessage(`{"a":1}`)}},
		{`{"op":"get","key":"k"}`, Op{Op: OpGet, Key: "k"}},
	}
	for _, c := range decode {
		var got Op
		if err := json.Unmarshal([]byte(c.in), &got); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got.Op != c.want.Op || got.Key != c.want.Key || got.By != c.want.By || string(got.Value) != string(c.want.Value) {
			t.Errorf("%s decoded to %+v, want %+v", c.in, got, c.want)
		}
	}
	var op Op
	if err := json.Unmarshal([]byte(`{"op":"increment","key":"n","bye":2}`), &op); err == nil {
		t.Error("an unknown field decoded without error")
	}

	encode := []struct {
		in   Op
		want string
	}{
		{Op{Op: OpIncrement, Key: "n"}, `{"op":"increment","key":"n","by":0}`},
		{Op{Op: OpIncrement, Key: "n", By: 5}, `{"op":"increment","key":"n","by":5}`},
		{Op{Op: OpGet, Key: "k"}, `{"op":"get","key":"k"}`},
		{Op{Op: OpDeleteAll}, `{"op":"delete_all"}`},
	}
	for _, c := range encode {
		b, err := json.Marshal(c.in)
		if err != nil || string(b) != c.want {
			t.Errorf("%+v encoded to %s (%v), want %s", c.in, b, err, c.want)
		}
	}
	// A Txn round-trips through JSON.
	in := Txn{Success: []Op{{Op: OpIncrement, Key: "a"}, {Op: OpIncrement, Key: "b", By: 2}}}
	b, _ := json.Marshal(in)
	var out Txn
	if err := json.Unmarshal(b, &out); err != nil || out.Success[0].By != 0 || out.Success[1].By != 2 {
		t.Fatalf("round trip %s -> %+v, %v", b, out, err)
	}
}
