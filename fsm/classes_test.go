package fsm

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// applyRaw feeds c to f's machine and returns Apply's raw response.
func (f *feeder) applyRaw(c *Command) interface{} {
	f.t.Helper()
	data, err := Encode(c)
	if err != nil {
		f.t.Fatalf("encode: %v", err)
	}
	f.index++
	return f.m.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: data})
}

func classCmd(t *testing.T, kind Kind, object string, body any) *Command {
	t.Helper()
	b, err := EncodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	return &Command{Kind: kind, Object: object, Body: b, Time: 1}
}

func TestClassRegistry(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	f.applyRaw(&Command{Kind: KindNoop})
	r := f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Counter", Lang: "js", Source: []byte("export class Counter {}")})).(*ClassResponse)
	if r.Version != 2 {
		t.Fatalf("version = %d, want the entry's index 2", r.Version)
	}
	f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Alpha", Lang: "ts", Source: []byte("a")}))
	r = f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Counter", Lang: "js", Source: []byte("v2")})).(*ClassResponse)
	if c, ok := m.Class("Counter"); !ok || c.Version != 4 || string(c.Source) != "v2" || r.Version != 4 {
		t.Fatalf("redeployed class = %+v %v (resp %+v)", c, ok, r)
	}
	list := m.Classes()
	if len(list) != 2 || list[0].Name != "Alpha" || list[1].Name != "Counter" || list[1].Source != nil {
		t.Fatalf("classes = %+v", list)
	}
	if d := f.applyRaw(classCmd(t, KindClassDelete, "", &ClassDelete{Name: "Counter"})).(*ClassResponse); !d.Found {
		t.Fatal("delete of a registered class found nothing")
	}
	if d := f.applyRaw(classCmd(t, KindClassDelete, "", &ClassDelete{Name: "Counter"})).(*ClassResponse); d.Found {
		t.Fatal("second delete found the class")
	}
	if _, ok := m.Class("Counter"); ok {
		t.Fatal("deleted class still registered")
	}
}

func TestCallAppliesOpsAlarmAndRemembersResponse(t *testing.T) {
	obj := ClassObject("Counter", "c1")
	resp := &CallResponse{Status: 200, Header: HeaderFields(http.Header{"Content-Type": {"text/plain"}, "X-A": {"1", "2"}}), Body: []byte("1")}
	tests := []struct {
		name      string
		call      Call
		idem      string
		wantValue string // stored "value", "" for absent
		wantAlarm int64  // 0: none
		replayed  bool
	}{
		{"ops, alarm and idempotency key", Call{Ops: []objects.Op{{Op: objects.OpPut, Key: "value", Value: json.RawMessage(`1`)}},
			Alarm: &AlarmChange{At: 5000}, Response: resp}, "k1", "1", 5000, false},
		{"retry is replayed and applies nothing", Call{Ops: []objects.Op{{Op: objects.OpPut, Key: "value", Value: json.RawMessage(`2`)}},
			Alarm: &AlarmChange{Delete: true}, Response: &CallResponse{Status: 201}}, "k1", "1", 5000, true},
		{"fired alarm is cleared", Call{Fired: 5000}, "", "1", 0, false},
		{"alarm that sets a new one keeps it", Call{Fired: 0, Alarm: &AlarmChange{At: 7000}}, "", "1", 7000, false},
		{"fired time that moved on leaves the alarm", Call{Fired: 5000}, "", "1", 7000, false},
		{"conflicting op changes nothing", Call{Ops: []objects.Op{{Op: objects.OpPut, Key: "value", Value: json.RawMessage(`"x"`)},
			{Op: objects.OpIncrement, Key: "value", By: 1}}, Alarm: &AlarmChange{Delete: true}}, "", "1", 7000, false},
	}
	m := New(Options{})
	f := &feeder{t: t, m: m}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classCmd(t, KindCall, obj, &tt.call)
			c.IdemKey, c.IdemExpires = tt.idem, 1000
			res := f.applyRaw(c).(*CallResult)
			if res.Replayed != tt.replayed {
				t.Fatalf("replayed = %v, want %v", res.Replayed, tt.replayed)
			}
			if tt.replayed && (res.Response.Status != 200 || string(res.Response.Body) != "1" || res.Index != 1 ||
				HTTPHeader(res.Response.Header).Values("X-A")[1] != "2") {
				t.Fatalf("replayed response = %+v index %d", res.Response, res.Index)
			}
			var got string
			m.Read(func(s *objects.Store) {
				if v, ok := s.Get(obj, "value"); ok {
					got = string(v)
				}
			})
			if got != tt.wantValue {
				t.Fatalf("value = %q, want %q", got, tt.wantValue)
			}
			at, ok := m.AlarmOf(obj)
			if (tt.wantAlarm != 0) != ok || at != tt.wantAlarm {
				t.Fatalf("alarm = %d %v, want %d", at, ok, tt.wantAlarm)
			}
		})
	}
	if r, err := m.CheckCall(obj, "k1", nil, 1); err != nil || r == nil || !r.Replayed || r.Response.Status != 200 || r.Index != 1 {
		t.Fatalf("CheckCall = %+v %v", r, err)
	}
	if r, err := m.CheckCall(obj, "k1", nil, 1000); err != nil || r != nil {
		t.Fatalf("CheckCall of an expired key = %+v %v, want a call to run", r, err)
	}
}

func TestDueAlarmsInTimeOrder(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	for _, a := range []struct {
		name string
		at   int64
	}{{"c", 30}, {"a", 10}, {"b", 10}, {"d", 99}} {
		f.applyRaw(classCmd(t, KindCall, ClassObject("K", a.name), &Call{Alarm: &AlarmChange{At: a.at}}))
	}
	due, next := m.DueAlarms(30, 10)
	if len(due) != 3 || due[0].Object != ClassObject("K", "a") || due[1].Object != ClassObject("K", "b") || due[2].At != 30 || next != 99 {
		t.Fatalf("due = %+v next %d", due, next)
	}
	if due, _ := m.DueAlarms(30, 2); len(due) != 2 {
		t.Fatalf("limit ignored: %d alarms", len(due))
	}
}

// TestAlarmRetriesAreState: a handler's failure, committed, counts
// against the alarm it ran for, on every replica and across snapshots
// (TestClassStateSnapshotRoundTrip), so that a new leader goes on from
// there; a new alarm time starts again.
func TestAlarmRetriesAreState(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	obj := ClassObject("K", "o")
	retries := func() int {
		t.Helper()
		due, _ := m.DueAlarms(1<<40, 10)
		if len(due) != 1 {
			t.Fatalf("%d alarms due, want 1", len(due))
		}
		return due[0].Retries
	}
	f.applyRaw(classCmd(t, KindCall, obj, &Call{Alarm: &AlarmChange{At: 50}}))
	before, _, _, _ := m.Digest()
	f.applyRaw(classCmd(t, KindCall, obj, &Call{Threw: 50}))
	f.applyRaw(classCmd(t, KindCall, obj, &Call{Threw: 50}))
	if got := retries(); got != 2 {
		t.Fatalf("retries after two failures = %d", got)
	}
	if after, _, _, _ := m.Digest(); after == before {
		t.Fatal("the digest does not cover retries")
	}
	f.applyRaw(classCmd(t, KindCall, obj, &Call{Threw: 49})) // a failure of another alarm time
	if got := retries(); got != 2 {
		t.Fatalf("a failure of an older alarm counted: %d", got)
	}
	f.applyRaw(classCmd(t, KindCall, obj, &Call{Alarm: &AlarmChange{At: 60}}))
	if got := retries(); got != 0 {
		t.Fatalf("a new alarm time kept %d retries", got)
	}
}

func TestClassStateSnapshotRoundTrip(t *testing.T) {
	m := New(Options{})
	f := &feeder{t: t, m: m}
	f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Counter", Lang: "js", Source: []byte("export class Counter {}")}))
	f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Limiter", Lang: "ts", Source: []byte("export class Limiter {}")}))
	call := classCmd(t, KindCall, ClassObject("Counter", "c1"), &Call{
		Ops:      []objects.Op{{Op: objects.OpPut, Key: "value", Value: json.RawMessage(`3`)}},
		Alarm:    &AlarmChange{At: 123456},
		Response: &CallResponse{Status: 200, Header: HeaderFields(http.Header{"B": {"2"}, "A": {"1"}}), Body: []byte("3")},
	})
	call.IdemKey, call.IdemExpires = "key", 1000
	f.applyRaw(call)
	f.applyRaw(classCmd(t, KindCall, ClassObject("Limiter", "l1"), &Call{Alarm: &AlarmChange{At: 99}}))
	f.applyRaw(classCmd(t, KindCall, ClassObject("Limiter", "l1"), &Call{Threw: 99}))
	want, _, _, _ := m.Digest()
	data := snapshotBytes(t, m)

	r := New(Options{})
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if got, _, _, _ := r.Digest(); got != want {
		t.Fatalf("digest after restore = %s, want %s", got, want)
	}
	if c, ok := r.Class("Limiter"); !ok || c.Lang != "ts" || c.Version != 2 {
		t.Fatalf("restored class = %+v %v", c, ok)
	}
	if at, ok := r.AlarmOf(ClassObject("Counter", "c1")); !ok || at != 123456 {
		t.Fatalf("restored alarm = %d %v", at, ok)
	}
	if due, _ := r.DueAlarms(99, 1); len(due) != 1 || due[0].Retries != 1 {
		t.Fatalf("restored retried alarm = %+v, want its one retry", due)
	}
	if res, err := r.CheckCall(ClassObject("Counter", "c1"), "key", nil, 2); err != nil || res == nil || string(res.Response.Body) != "3" || res.Response.Header[0].Name != "A" {
		t.Fatalf("restored call response = %+v %v", res, err)
	}
	if !bytes.Equal(snapshotBytes(t, r), data) {
		t.Fatal("snapshot of the restored machine differs")
	}
	// The digest covers class state: dropping an alarm changes it.
	f.applyRaw(classCmd(t, KindCall, ClassObject("Limiter", "l1"), &Call{Alarm: &AlarmChange{Delete: true}}))
	if got, _, _, _ := m.Digest(); got == want {
		t.Fatal("digest did not change with the alarms")
	}
}

func TestSnapshotWithoutClassRecordsStillReads(t *testing.T) {
	// A snapshot of a machine without classes has the header of earlier
	// builds (the new counts are omitted), and reads back.
	m := New(Options{})
	f := &feeder{t: t, m: m}
	f.apply(&Command{Kind: KindTxn, Object: "o", Txn: put("o", "k", `1`), Time: 1})
	data := snapshotBytes(t, m)
	if bytes.Contains(data, []byte("classes")) || bytes.Contains(data, []byte("alarms")) {
		t.Fatal("snapshot without classes carries the new header fields")
	}
	r := New(Options{})
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if len(r.Classes()) != 0 {
		t.Fatal("classes appeared from nowhere")
	}
}

func TestSplitClassObject(t *testing.T) {
	tests := []struct {
		in          string
		class, name string
		ok          bool
	}{
		{ClassObject("Counter", "a/b"), "Counter", "a/b", true},
		{"_do/Counter", "", "", false},
		{"card-1", "", "", false},
	}
	for _, tt := range tests {
		c, n, ok := SplitClassObject(tt.in)
		if c != tt.class || n != tt.name || ok != tt.ok {
			t.Errorf("SplitClassObject(%q) = %q %q %v", tt.in, c, n, ok)
		}
	}
}

// TestClassBodiesWireFormat pins the bodies of the class kinds as they
// are in the log: later builds must read them as written here.
func TestClassBodiesWireFormat(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		into any
		want any
	}{
		{"call", "84a16f9283a26f70a3707574a36b6579a576616c7565a576616c7565c4013782a26f70a664656c657465a36b6579a36f6c64a16181a161d30000018bcfe56800a166d30000018bcfe56418a17283a173ccc9a1689182a16eac436f6e74656e742d54797065a176aa746578742f706c61696ea162c40137",
			&Call{}, &Call{Ops: []objects.Op{{Op: objects.OpPut, Key: "value", Value: json.RawMessage(`7`)}, {Op: objects.OpDelete, Key: "old"}},
				Alarm: &AlarmChange{At: 1700000000000}, Fired: 1699999999000,
				Response: &CallResponse{Status: 201, Header: []HeaderField{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("7")}}},
		{"class put", "83a16ea7436f756e746572a16ca27473a173c4176578706f727420636c61737320436f756e746572207b7d",
			&ClassPut{}, &ClassPut{Name: "Counter", Lang: "ts", Source: []byte("export class Counter {}")}},
		{"class delete", "81a16ea7436f756e746572", &ClassDelete{}, &ClassDelete{Name: "Counter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeBody(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.hex {
				t.Fatalf("EncodeBody wrote\n%s\nwant\n%s\n(a changed body must still decode the old one)", got, tt.hex)
			}
			raw, _ := hex.DecodeString(tt.hex)
			if err := msgpack.Unmarshal(raw, tt.into); err != nil {
				t.Fatal(err)
			}
			have, _ := json.Marshal(tt.into)
			want, _ := json.Marshal(tt.want)
			if !bytes.Equal(have, want) {
				t.Fatalf("decoded\n%s\nwant\n%s", have, want)
			}
		})
	}
}
