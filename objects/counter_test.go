package objects

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

func TestCounter(t *testing.T) {
	tests := []struct {
		name    string
		stored  string // "" = absent
		want    int64
		wantErr bool
	}{
		{"absent", "", 0, false},
		{"zero", `0`, 0, false},
		{"positive", `6`, 6, false},
		{"negative", `-3`, -3, false},
		{"minus zero", `-0`, 0, false},
		{"max", strconv.FormatInt(math.MaxInt64, 10), math.MaxInt64, false},
		{"min", strconv.FormatInt(math.MinInt64, 10), math.MinInt64, false},
		{"over max", `9223372036854775808`, 0, true},
		{"under min", `-9223372036854775809`, 0, true},
		{"string", `"x"`, 0, true},
		{"numeric string", `"5"`, 0, true},
		{"fraction", `1.5`, 0, true},
		{"integral fraction", `1.0`, 0, true},
		{"exponent", `1e3`, 0, true},
		{"true", `true`, 0, true},
		{"null", `null`, 0, true},
		{"object", `{"value":1}`, 0, true},
		{"array", `[1]`, 0, true},
		{"leading zero", `01`, 0, true},
		{"plus", `+1`, 0, true},
		{"minus only", `-`, 0, true},
		{"space", ` 1`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			if tt.stored != "" {
				s.Load("o", "value", json.RawMessage(tt.stored))
			}
			got, err := s.Counter("o", "value")
			if tt.wantErr {
				wantConflict(t, err, "value", ReasonNotInteger)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Counter = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestIncrement(t *testing.T) {
	maxS, minS := strconv.FormatInt(math.MaxInt64, 10), strconv.FormatInt(math.MinInt64, 10)
	tests := []struct {
		name   string
		stored string // "" = absent
		by     int64
		want   string // new value; "" = conflict
		reason string
	}{
		{"absent +1", "", 1, `1`, ""},
		{"absent -1", "", -1, `-1`, ""},
		{"absent by 0", "", 0, `0`, ""},
		{"5 +1", `5`, 1, `6`, ""},
		{"5 -8", `5`, -8, `-3`, ""},
		{"-3 +3", `-3`, 3, `0`, ""},
		{"to max", `9223372036854775806`, 1, maxS, ""},
		{"to min", `-9223372036854775807`, -1, minS, ""},
		{"min + max", minS, math.MaxInt64, `-1`, ""},
		{"max + min", maxS, math.MinInt64, `-1`, ""},
		{"overflow up", maxS, 1, "", ReasonOverflow},
		{"overflow up big", `1`, math.MaxInt64, "", ReasonOverflow},
		{"overflow down", minS, -1, "", ReasonOverflow},
		{"overflow down big", `-2`, math.MinInt64, "", ReasonOverflow},
		{"absent min", "", math.MinInt64, minS, ""},
		{"not an integer", `"x"`, 1, "", ReasonNotInteger},
		{"fraction", `1.5`, 1, "", ReasonNotInteger},
		{"by 0 on non-integer", `true`, 0, "", ReasonNotInteger},
		{"too big stored", `9223372036854775808`, -1, "", ReasonNotInteger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			if tt.stored != "" {
				s.Load("o", "n", json.RawMessage(tt.stored))
			}
			before := s.Digest()
			res, err := s.Apply("o", Txn{Success: []Op{{Op: OpIncrement, Key: "n", By: tt.by}}})
			if tt.reason != "" {
				wantConflict(t, err, "n", tt.reason)
				if s.Digest() != before {
					t.Fatal("store changed by a conflicting increment")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Results) != 1 || string(res.Results[0].Value) != tt.want || res.Results[0].Op != OpIncrement || res.Results[0].Key != "n" {
				t.Fatalf("result = %+v, want value %s", res.Results, tt.want)
			}
			if v, _ := s.Get("o", "n"); string(v) != tt.want {
				t.Fatalf("stored = %s, want %s", v, tt.want)
			}
			n, err := s.Counter("o", "n")
			if err != nil || strconv.FormatInt(n, 10) != tt.want {
				t.Fatalf("Counter = %d, %v; want %s", n, err, tt.want)
			}
		})
	}
}
