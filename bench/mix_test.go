package bench

import (
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantStr string
		wantErr string
	}{
		{in: "increment=1", want: Mix{OpIncrement: 1}, wantStr: "increment=1"},
		{in: "increment=50,read=50", want: Mix{OpIncrement: 50, OpRead: 50}, wantStr: "increment=50,read=50"},
		{in: " read = 3 , stale=1 ", want: Mix{OpRead: 3, OpStaleRead: 1}, wantStr: "read=3,stale_read=1"},
		{in: "read", want: Mix{OpRead: 1}, wantStr: "read=1"},
		{in: "transaction=2,storage-put=1,INCR=5,read=0", want: Mix{OpIncrement: 5, OpPut: 1, OpTxn: 2}, wantStr: "increment=5,put=1,txn=2"},
		{in: "increment=1,stale_read=1,read=1,put=1,txn=1", want: Mix{1, 1, 1, 1, 1}, wantStr: "increment=1,read=1,stale_read=1,put=1,txn=1"},
		{in: "", wantErr: "no op has a positive weight"},
		{in: "increment=0", wantErr: "no op has a positive weight"},
		{in: "bogus=1", wantErr: `unknown op "bogus"`},
		{in: "increment=-1", wantErr: "non-negative integer"},
		{in: "increment=x", wantErr: "non-negative integer"},
		{in: "increment=1,incr=2", wantErr: "increment given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMix(%q) error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMix(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseMix(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got.String() != tt.wantStr {
				t.Fatalf("String() = %q, want %q", got.String(), tt.wantStr)
			}
			back, err := ParseMix(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseMix(String()) = %v, %v; want %v", back, err, got)
			}
		})
	}
}

// Every r in [0,total) picks one op, and each op is picked exactly as many
// times as its weight.
func TestMixPickFollowsWeights(t *testing.T) {
	m := Mix{OpIncrement: 3, OpRead: 0, OpStaleRead: 2, OpPut: 0, OpTxn: 5}
	var got Mix
	for r := range m.total() {
		got[m.pick(r)]++
	}
	if got != m {
		t.Fatalf("picks per op %v, want the weights %v", got, m)
	}
}
