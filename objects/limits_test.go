package objects

import (
	"errors"
	"strings"
	"testing"
)

func TestLimitsValidate(t *testing.T) {
	gets := func(n int) []Op {
		ops := make([]Op, n)
		for i := range ops {
			ops[i] = Op{Op: OpGet, Key: "k"}
		}
		return ops
	}
	small := Limits{MaxNameBytes: 8, MaxKeyBytes: 4, MaxValueBytes: 16, MaxOps: 4, MaxAnswerBytes: 200}
	tests := []struct {
		name   string
		l      Limits
		object string
		txn    Txn
		want   error
	}{
		{"ok", Limits{}, "o", Txn{Success: []Op{{Op: OpPut, Key: "k", Value: []byte(`1`)}}}, nil},
		{"128 gets pass the defaults", Limits{}, "o", Txn{Success: gets(128)}, nil},
		{"129 ops are too many", Limits{}, "o", Txn{Success: gets(129)}, ErrTooLarge},
		{"ops counted across lists", small, "o", Txn{Compare: []Compare{{Key: "k", Op: CmpExists}}, Success: gets(2), Failure: gets(2)}, ErrTooLarge},
		{"empty name", small, "", Txn{}, ErrInvalid},
		{"long name", small, strings.Repeat("n", 9), Txn{}, ErrTooLarge},
		{"bad utf-8 name", small, "\xff", Txn{}, ErrInvalid},
		{"long key", small, "o", Txn{Success: []Op{{Op: OpDelete, Key: "kkkkk"}}}, ErrTooLarge},
		{"long compare key", small, "o", Txn{Compare: []Compare{{Key: "kkkkk", Op: CmpExists}}}, ErrTooLarge},
		{"bad utf-8 key", small, "o", Txn{Success: []Op{{Op: OpDelete, Key: "\xff"}}}, ErrInvalid},
		{"large value", small, "o", Txn{Success: []Op{{Op: OpPut, Key: "k", Value: []byte(`"` + strings.Repeat("v", 20) + `"`)}}}, ErrTooLarge},
		{"large compare value", small, "o", Txn{Compare: []Compare{{Key: "k", Op: CmpEqual, Value: []byte(`"` + strings.Repeat("v", 20) + `"`)}}}, ErrTooLarge},
		{"answer of 3 gets over the cap", small, "o", Txn{Success: gets(3)}, ErrTooLarge},
		{"answer of 3 gets in failure over the cap", small, "o", Txn{Failure: gets(3)}, ErrTooLarge},
		{"answer of 3 deletes fits", small, "o", Txn{Success: []Op{{Op: OpDelete, Key: "a"}, {Op: OpDelete, Key: "b"}, {Op: OpDelete, Key: "c"}}}, nil},
		{"unknown op", small, "o", Txn{Success: []Op{{Op: "nope", Key: "k"}}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate(tt.object, tt.txn)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}
