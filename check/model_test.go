package check

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dobj/dobj/client"
)

// op builds one operation of a hand-made history; ret < 0 means unknown
// (returns at infinity).
func op(client int, in Input, out Output, call, ret int64) porcupine.Operation {
	if ret < 0 {
		out.Unknown = true
		ret = infinity
	}
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret, Metadata: Meta{Node: "n1"}}
}

func reg(kind Kind, key, value, old string) Input {
	return Input{Kind: kind, Object: "r", Key: key, Value: value, Old: old}
}

func cnt(kind Kind, key string) Input { return Input{Kind: kind, Object: "c", Key: key} }

func read(v string) Output {
	if v == "" {
		return Output{}
	}
	return Output{Found: true, Value: v}
}

func TestModel(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
		key     string // the illegal partition's key
	}{
		{"register sequential", []porcupine.Operation{
			op(0, reg(KindRead, "k", "", ""), read(""), 0, 10),
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 20, 30),
			op(1, reg(KindRead, "k", "", ""), read(`"a"`), 40, 50),
			op(1, reg(KindCAS, "k", `"b"`, `"a"`), Output{OK: true}, 60, 70),
			op(0, reg(KindCAS, "k", `"c"`, `"a"`), Output{OK: false}, 80, 90),
			op(0, reg(KindRead, "k", "", ""), read(`"b"`), 100, 110),
		}, porcupine.Ok, ""},
		{"concurrent write and reads of both values", []porcupine.Operation{
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 100),
			op(1, reg(KindRead, "k", "", ""), read(""), 10, 20),
			op(2, reg(KindRead, "k", "", ""), read(`"a"`), 30, 40),
		}, porcupine.Ok, ""},
		{"unknown write may apply late", []porcupine.Operation{
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 10),
			op(1, reg(KindWrite, "k", `"b"`, ""), Output{}, 20, -1),
			op(0, reg(KindRead, "k", "", ""), read(`"a"`), 30, 40),
			op(0, reg(KindRead, "k", "", ""), read(`"b"`), 50, 60),
		}, porcupine.Ok, ""},
		{"unknown write may never apply", []porcupine.Operation{
			op(1, reg(KindWrite, "k", `"b"`, ""), Output{}, 0, -1),
			op(0, reg(KindRead, "k", "", ""), read(""), 30, 40),
		}, porcupine.Ok, ""},
		{"unknown cas whose compare fails is a no-op", []porcupine.Operation{
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 10),
			op(1, reg(KindCAS, "k", `"b"`, `"x"`), Output{}, 20, -1),
			op(0, reg(KindRead, "k", "", ""), read(`"a"`), 30, 40),
		}, porcupine.Ok, ""},
		{"stale read: a follower returns the value before an acknowledged write", []porcupine.Operation{
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 10),
			op(0, reg(KindWrite, "k", `"b"`, ""), Output{}, 20, 30),
			op(1, reg(KindRead, "k", "", ""), read(`"a"`), 40, 50),
		}, porcupine.Illegal, "k"},
		{"stale read of a missing key", []porcupine.Operation{
			op(0, reg(KindWrite, "k2", `"z"`, ""), Output{}, 0, 10),
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 10),
			op(1, reg(KindRead, "k", "", ""), read(""), 40, 50),
		}, porcupine.Illegal, "k"},
		{"cas that succeeded against the wrong value", []porcupine.Operation{
			op(0, reg(KindWrite, "k", `"a"`, ""), Output{}, 0, 10),
			op(1, reg(KindCAS, "k", `"b"`, `"x"`), Output{OK: true}, 20, 30),
		}, porcupine.Illegal, "k"},
		{"counter sequential with unknown and reads", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
			op(1, cnt(KindIncr, "c"), Output{}, 20, -1),
			op(0, cnt(KindIncr, "c"), Output{N: 3}, 30, 40),
			op(1, cnt(KindCount, "c"), Output{N: 3}, 50, 60),
		}, porcupine.Ok, ""},
		{"concurrent increments in either order", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 2}, 0, 100),
			op(1, cnt(KindIncr, "c"), Output{N: 1}, 10, 90),
			op(2, cnt(KindCount, "c"), Output{N: 2}, 110, 120),
		}, porcupine.Ok, ""},
		{"lost increment: a read after two acknowledged increments sees one", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
			op(1, cnt(KindIncr, "c"), Output{N: 2}, 20, 30),
			op(2, cnt(KindCount, "c"), Output{N: 1}, 40, 50),
		}, porcupine.Illegal, "c"},
		{"double-applied increment: one acknowledged increment moved the counter by two", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
			op(1, cnt(KindIncr, "c"), Output{N: 3}, 20, 30),
		}, porcupine.Illegal, "c"},
		{"ack before commit: concurrent increments return the same value", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 30),
			op(1, cnt(KindIncr, "c"), Output{N: 1}, 5, 25),
		}, porcupine.Illegal, "c"},
		{"counter stale read after an increment", []porcupine.Operation{
			op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
			op(1, cnt(KindCount, "c"), Output{N: 0}, 20, 30),
		}, porcupine.Illegal, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lin := checkLinearizable(context.Background(), tt.history, 10*time.Second)
			if lin.Result != tt.want {
				t.Fatalf("result %s, want %s", lin.Result, tt.want)
			}
			if tt.want != porcupine.Illegal {
				if len(lin.Illegal) != 0 {
					t.Fatalf("illegal partitions %+v on a legal history", lin.Illegal)
				}
				return
			}
			if len(lin.Illegal) != 1 || lin.Illegal[0].Key != tt.key {
				t.Fatalf("illegal partitions %+v, want exactly key %q", lin.Illegal, tt.key)
			}
			var marked bool
			for _, l := range lin.Illegal[0].Excerpt {
				marked = marked || strings.HasPrefix(l, "=>")
			}
			if !marked {
				t.Errorf("excerpt marks no operation: %q", lin.Illegal[0].Excerpt)
			}
		})
	}
}

func TestCheckResends(t *testing.T) {
	resends := []IdemResend{
		{Object: "c", Key: "k", IdemKey: "a", First: 5, Retry: 5, Outcome: OK},
		{Object: "c", Key: "k", IdemKey: "b", First: 7, Retry: 0, Outcome: Unknown},
		{Object: "c", Key: "k", IdemKey: "c", First: 7, Retry: 0, Outcome: Fail},
	}
	if p := checkResends(resends); len(p) != 0 {
		t.Fatalf("problems %q for matching or inconclusive retries", p)
	}
	resends = append(resends, IdemResend{Object: "c", Key: "k", IdemKey: "d", First: 9, Retry: 10, Outcome: OK})
	p := checkResends(resends)
	if len(p) != 1 || !strings.Contains(p[0], "Idempotency-Key d") || !strings.Contains(p[0], "answered 9") {
		t.Fatalf("problems %q, want one about key d", p)
	}
}

func TestCheckSet(t *testing.T) {
	adds := []SetAdd{{"a", OK}, {"b", OK}, {"c", Unknown}, {"d", Fail}}
	tests := []struct {
		name   string
		finals map[string][]string
		want   []string // substrings, one per problem
	}{
		{"all there, unknown absent", map[string][]string{"n1": {"a", "b"}, "n2": {"b", "a"}}, nil},
		{"unknown present", map[string][]string{"n1": {"a", "b", "c"}, "n2": {"a", "b", "c"}}, nil},
		{"lost write", map[string][]string{"n1": {"a", "b"}, "n2": {"a"}}, []string{"missing from n2", "differ"}},
		{"failed add applied", map[string][]string{"n1": {"a", "b", "d"}}, []string{"definite failures"}},
		{"phantom", map[string][]string{"n1": {"a", "b", "zz"}}, []string{"never added"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkSet(adds, tt.finals)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q does not say %q", got[i], w)
				}
			}
		})
	}
}

func TestCheckCounterBounds(t *testing.T) {
	final := func(n int64) porcupine.Operation {
		o := op(9, cnt(KindCount, "c"), Output{N: n}, 100, 110)
		o.Metadata = Meta{Node: "n1", Final: true}
		return o
	}
	base := []porcupine.Operation{
		op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
		op(1, cnt(KindIncr, "c"), Output{N: 2}, 20, 30),
		op(1, cnt(KindIncr, "c"), Output{}, 40, -1),
		op(2, cnt(KindCount, "c"), Output{N: 0}, 0, 5), // a read during the run: not a bound
	}
	for _, tt := range []struct {
		final int64
		want  string
	}{{2, ""}, {3, ""}, {1, "lost increments"}, {4, "applied twice"}} {
		got := checkCounterBounds(append(append([]porcupine.Operation(nil), base...), final(tt.final)))
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("final %d: problems %q", tt.final, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("final %d: problems %q, want one saying %q", tt.final, got, tt.want)
		}
	}
}

func TestVisualizeAnnotatesFaults(t *testing.T) {
	history := []porcupine.Operation{
		op(0, cnt(KindIncr, "c"), Output{N: 1}, 0, 10),
		op(1, cnt(KindIncr, "c"), Output{N: 1}, 5, 25),
	}
	lin := checkLinearizable(context.Background(), history, 10*time.Second)
	path := filepath.Join(t.TempDir(), "history.html")
	faults := []Fault{{Kind: NemesisKillLeader, Nodes: []string{"n2"}, Start: 2, End: 20, Detail: "pid 42"}}
	if err := visualize(context.Background(), history, lin, faults, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kill-leader n2", `incr() -\u003e 1` /* JSON-escaped */, `"Tag":"nemesis"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
}

func TestReportVerdict(t *testing.T) {
	r := &Report{}
	r.finish()
	if !r.Pass || r.Verdict != verdictOK {
		t.Fatalf("no problems: %+v", r)
	}
	r = &Report{}
	r.problem(verdictNotConverged, "x")
	r.problem(verdictViolation, "y")
	r.problem(verdictInconclusive, "z")
	r.finish()
	if r.Pass || r.Verdict != verdictViolation || len(r.Problems) != 3 {
		t.Fatalf("verdict %q pass %v problems %q", r.Verdict, r.Pass, r.Problems)
	}
}

func TestClassify(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"answer", nil, OK},
		{"503", &client.Error{Status: 503}, Fail},
		{"409", &client.Error{Status: 409}, Fail},
		{"504", &client.Error{Status: 504}, Unknown},
		{"reset after sending", fmt.Errorf("post: %w", reset), Unknown},
		{"timeout", context.DeadlineExceeded, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}
