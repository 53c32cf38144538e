package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/dobj/dobj/objects"
)

// expectProblem checks a problem+json answer.
func expectProblem(t *testing.T, r response, status int, typ string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Type != typ || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem = %+v, want type %q status %d with title and detail", p, typ, status)
	}
	if status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After")
	}
	return p
}

func expectOK(t *testing.T, r response, body string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", r.status, r.body)
	}
	if r.body != body {
		t.Fatalf("body = %s, want %s", r.body, body)
	}
	if r.header.Get("X-Dobj-Index") == "" {
		t.Fatalf("no X-Dobj-Index header")
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}

func TestCounters(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{NodeID: "n1"}, node)
	steps := []struct {
		method, path string
		status       int
		body         string // the 200 body, or the problem type
	}{
		{"GET", "/card-1", 200, `{"name":"card-1","value":0}` + "\n"},
		{"POST", "/card-1/increment", 200, `{"name":"card-1","value":1}` + "\n"},
		{"POST", "/card-1/increment?by=5", 200, `{"name":"card-1","value":6}` + "\n"},
		{"POST", "/card-1/decrement?by=2", 200, `{"name":"card-1","value":4}` + "\n"},
		{"POST", "/card-1/decrement", 200, `{"name":"card-1","value":3}` + "\n"},
		{"POST", "/card-1/increment?by=-10", 200, `{"name":"card-1","value":-7}` + "\n"},
		{"GET", "/card-1", 200, `{"name":"card-1","value":-7}` + "\n"},
		{"GET", "/card-1?consistency=stale", 200, `{"name":"card-1","value":-7}` + "\n"},
		{"GET", "/card-1?consistency=linearizable", 200, `{"name":"card-1","value":-7}` + "\n"},
		{"POST", "/card-1/increment?key=hits&by=2", 200, `{"name":"card-1","key":"hits","value":2}` + "\n"},
		{"GET", "/card-1?key=hits", 200, `{"name":"card-1","key":"hits","value":2}` + "\n"},
		{"GET", "/card-1?key=value", 200, `{"name":"card-1","key":"value","value":-7}` + "\n"},
		// a name and key with escapes: %2F is part of the name
		{"POST", "/a%2Fb%20c/increment?key=x%2Fy", 200, `{"name":"a/b c","key":"x/y","value":1}` + "\n"},
		{"GET", "/caf%C3%A9", 200, `{"name":"café","value":0}` + "\n"},
		// int64 edges
		{"POST", "/edge/increment?by=" + strconv.FormatInt(math.MaxInt64, 10), 200, fmt.Sprintf(`{"name":"edge","value":%d}`+"\n", int64(math.MaxInt64))},
		{"POST", "/edge/increment", 409, "conflict"},
		{"POST", "/edge2/increment?by=" + strconv.FormatInt(math.MinInt64, 10), 200, fmt.Sprintf(`{"name":"edge2","value":%d}`+"\n", int64(math.MinInt64))},
		{"POST", "/edge2/decrement", 409, "conflict"},
		{"POST", "/edge3/decrement?by=1", 200, `{"name":"edge3","value":-1}` + "\n"},
		// -(-1) + 2^63 = MaxInt64: decrementing by MinInt64 is adding 2^63
		{"POST", "/edge3/decrement?by=" + strconv.FormatInt(math.MinInt64, 10), 200, fmt.Sprintf(`{"name":"edge3","value":%d}`+"\n", int64(math.MaxInt64))},
		{"POST", "/edge4/decrement?by=" + strconv.FormatInt(math.MinInt64, 10), 409, "conflict"}, // 0 + 2^63 overflows
		{"GET", "/edge4", 200, `{"name":"edge4","value":0}` + "\n"},
	}
	for i, st := range steps {
		r := call(t, ts.URL, st.method, st.path, "")
		if st.status == 200 {
			expectOK(t, r, st.body)
		} else {
			expectProblem(t, r, st.status, st.body)
		}
		if r.header.Get("X-Dobj-Index") == "" {
			t.Fatalf("step %d %s %s: no X-Dobj-Index", i, st.method, st.path)
		}
	}
}

func TestCounterNotAnInteger(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	expectOK(t, call(t, ts.URL, "PUT", "/c/storage/value", `"text"`), `{"ok":true}`+"\n")
	before := len(node.writeCalls())
	p := expectProblem(t, call(t, ts.URL, "POST", "/c/increment", ""), 409, "conflict")
	if len(node.writeCalls()) != before+1 {
		t.Fatalf("increment was not proposed")
	}
	if p.Detail == "" {
		t.Fatalf("empty detail")
	}
	expectProblem(t, call(t, ts.URL, "GET", "/c", ""), 409, "conflict")
	r := call(t, ts.URL, "GET", "/c/storage/value", "")
	expectOK(t, r, `"text"`)
}

func TestCounterWriteCommand(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	call(t, ts.URL, "POST", "/obj/decrement?by=3&key=k", "")
	call(t, ts.URL, "POST", "/obj/decrement?by="+strconv.FormatInt(math.MinInt64, 10), "")
	want := []objects.Txn{
		{Success: []objects.Op{{Op: "increment", Key: "k", By: -3}}},
		{Success: []objects.Op{{Op: "increment", Key: "value", By: math.MaxInt64}, {Op: "increment", Key: "value", By: 1}}},
	}
	got := node.writeCalls()
	if len(got) != len(want) {
		t.Fatalf("writes = %+v", got)
	}
	for i := range want {
		if fmt.Sprint(got[i].Txn) != fmt.Sprint(want[i]) || got[i].Object != "obj" {
			t.Errorf("write %d = %+v, want object obj txn %+v", i, got[i], want[i])
		}
	}
}

func TestStorage(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	steps := []struct {
		method, path, body string
		status             int
		want               string // 200 body or problem type
	}{
		{"GET", "/o/storage/k", "", 404, "not-found"},
		{"PUT", "/o/storage/k", `{ "b": 1, "a": [1.50, "x<y&z", null, true], "c": {"z": 0, "y": -2e3} }`, 200, `{"ok":true}` + "\n"},
		{"GET", "/o/storage/k", "", 200, `{"a":[1.50,"x<y&z",null,true],"b":1,"c":{"y":-2e3,"z":0}}`},
		{"GET", "/o/storage/k?consistency=stale", "", 200, `{"a":[1.50,"x<y&z",null,true],"b":1,"c":{"y":-2e3,"z":0}}`},
		{"PUT", "/o/storage/a%2Fb", `"slash-escaped"`, 200, `{"ok":true}` + "\n"},
		{"GET", "/o/storage/a/b", "", 200, `"slash-escaped"`},
		{"PUT", "/o/storage/dir/sub/leaf", `7`, 200, `{"ok":true}` + "\n"},
		{"GET", "/o/storage/dir%2Fsub%2Fleaf", "", 200, `7`},
		{"PUT", "/o/storage/%E2%9C%93%20%3F%23", `null`, 200, `{"ok":true}` + "\n"},
		{"GET", "/o/storage/%E2%9C%93%20%3F%23", "", 200, `null`},
		{"PUT", "/o/storage/dup", `{"a":1,"a":2}`, 200, `{"ok":true}` + "\n"},
		{"GET", "/o/storage/dup", "", 200, `{"a":2}`},
		{"GET", "/o/storage", "", 200, `{"entries":[{"key":"a/b","value":"slash-escaped"},{"key":"dir/sub/leaf","value":7},{"key":"dup","value":{"a":2}},{"key":"k","value":{"a":[1.50,"x<y&z",null,true],"b":1,"c":{"y":-2e3,"z":0}}},{"key":"✓ ?#","value":null}],"more":false}` + "\n"},
		{"DELETE", "/o/storage/k", "", 200, `{"deleted":true}` + "\n"},
		{"DELETE", "/o/storage/k", "", 200, `{"deleted":false}` + "\n"},
		{"GET", "/o/storage/k", "", 404, "not-found"},
		{"DELETE", "/o/storage", "", 200, `{"deleted":4}` + "\n"},
		{"DELETE", "/o/storage", "", 200, `{"deleted":0}` + "\n"},
		{"GET", "/o/storage", "", 200, `{"entries":[],"more":false}` + "\n"},
	}
	for i, st := range steps {
		r := call(t, ts.URL, st.method, st.path, st.body)
		if st.status == 200 {
			expectOK(t, r, st.want)
		} else {
			expectProblem(t, r, st.status, st.want)
		}
		if r.header.Get("X-Dobj-Index") == "" {
			t.Fatalf("step %d: no X-Dobj-Index", i)
		}
	}
	// Every write reached the node as one op of the right kind.
	kinds := ""
	for _, w := range node.writeCalls() {
		if len(w.Txn.Success) != 1 || w.Object != "o" {
			t.Fatalf("write %+v is not one op on o", w)
		}
		kinds += w.Txn.Success[0].Op + " "
	}
	if want := "put put put put put delete delete delete_all delete_all "; kinds != want {
		t.Fatalf("ops = %q, want %q", kinds, want)
	}
}

func TestList(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{MaxListLimit: 3}, node)
	for _, k := range []string{"a", "b1", "b2", "b3", "c", "d"} {
		expectOK(t, call(t, ts.URL, "PUT", "/l/storage/"+k, `"`+k+`"`), `{"ok":true}`+"\n")
	}
	cases := []struct {
		query, want string
	}{
		{"", `{"entries":[{"key":"a","value":"a"},{"key":"b1","value":"b1"},{"key":"b2","value":"b2"}],"more":true}` + "\n"},
		{"?limit=0", `{"entries":[{"key":"a","value":"a"},{"key":"b1","value":"b1"},{"key":"b2","value":"b2"}],"more":true}` + "\n"},
		{"?limit=100", `{"entries":[{"key":"a","value":"a"},{"key":"b1","value":"b1"},{"key":"b2","value":"b2"}],"more":true}` + "\n"},
		{"?prefix=b", `{"entries":[{"key":"b1","value":"b1"},{"key":"b2","value":"b2"},{"key":"b3","value":"b3"}],"more":false}` + "\n"},
		{"?prefix=b&limit=2", `{"entries":[{"key":"b1","value":"b1"},{"key":"b2","value":"b2"}],"more":true}` + "\n"},
		{"?start=b2&end=d", `{"entries":[{"key":"b2","value":"b2"},{"key":"b3","value":"b3"},{"key":"c","value":"c"}],"more":false}` + "\n"},
		{"?startAfter=b2&end=d", `{"entries":[{"key":"b3","value":"b3"},{"key":"c","value":"c"}],"more":false}` + "\n"},
		{"?reverse=true&limit=2", `{"entries":[{"key":"d","value":"d"},{"key":"c","value":"c"}],"more":true}` + "\n"},
		{"?reverse&prefix=b", `{"entries":[{"key":"b3","value":"b3"},{"key":"b2","value":"b2"},{"key":"b1","value":"b1"}],"more":false}` + "\n"},
		{"?reverse=false&start=c", `{"entries":[{"key":"c","value":"c"},{"key":"d","value":"d"}],"more":false}` + "\n"},
		{"?end=a", `{"entries":[],"more":false}` + "\n"},
		{"?consistency=stale&prefix=zz", `{"entries":[],"more":false}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			expectOK(t, call(t, ts.URL, "GET", "/l/storage"+c.query, ""), c.want)
		})
	}
}

func TestTransaction(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	expectOK(t, call(t, ts.URL, "PUT", "/t/storage/k", `5`), `{"ok":true}`+"\n")
	cases := []struct {
		name, body, want string
	}{
		{"success", `{"compare":[{"key":"k","op":"equal","value":5},{"key":"j","op":"missing"}],
			"success":[{"op":"put","key":"k","value":{"b":1, "a":2}},{"op":"delete","key":"j"},{"op":"increment","key":"n","by":1},{"op":"get","key":"k"}],
			"failure":[{"op":"get","key":"k"}]}`,
			`{"succeeded":true,"results":[{"op":"put","key":"k"},{"op":"delete","key":"j","deleted":false},{"op":"increment","key":"n","value":1},{"op":"get","key":"k","found":true,"value":{"a":2,"b":1}}]}` + "\n"},
		{"compare sees canonical values", `{"compare":[{"key":"k","op":"equal","value":{ "a" : 2, "b" : 1 }}],"success":[{"op":"get","key":"k"}]}`,
			`{"succeeded":true,"results":[{"op":"get","key":"k","found":true,"value":{"a":2,"b":1}}]}` + "\n"},
		{"failure branch", `{"compare":[{"key":"k","op":"not_equal","value":{"a":2,"b":1}}],"success":[{"op":"delete","key":"k"}],"failure":[{"op":"get","key":"zz"},{"op":"increment","key":"n"}]}`,
			`{"succeeded":false,"results":[{"op":"get","key":"zz","found":false},{"op":"increment","key":"n","value":2}]}` + "\n"},
		// An increment without "by" adds 1, as POST /<name>/increment
		// does; "by":0 is kept as given.
		{"increment without by adds 1", `{"success":[{"op":"increment","key":"m"},{"op":"increment","key":"m"}]}`,
			`{"succeeded":true,"results":[{"op":"increment","key":"m","value":1},{"op":"increment","key":"m","value":2}]}` + "\n"},
		{"increment by 0 adds 0", `{"success":[{"op":"increment","key":"m","by":0}]}`,
			`{"succeeded":true,"results":[{"op":"increment","key":"m","value":2}]}` + "\n"},
		{"increment by -2", `{"success":[{"op":"increment","key":"m","by":-2}]}`,
			`{"succeeded":true,"results":[{"op":"increment","key":"m","value":0}]}` + "\n"},
		{"exists and empty success", `{"compare":[{"key":"k","op":"exists"}]}`, `{"succeeded":true,"results":[]}` + "\n"},
		{"empty", `{}`, `{"succeeded":true,"results":[]}` + "\n"},
		{"delete_all", `{"success":[{"op":"delete_all"},{"op":"get","key":"k"}]}`,
			`{"succeeded":true,"results":[{"op":"delete_all","count":3},{"op":"get","key":"k","found":false}]}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectOK(t, call(t, ts.URL, "POST", "/t/transaction", c.body), c.want)
		})
	}
	// An op that conflicts rolls the whole txn back: 409, nothing changed.
	expectOK(t, call(t, ts.URL, "PUT", "/t/storage/s", `"str"`), `{"ok":true}`+"\n")
	expectProblem(t, call(t, ts.URL, "POST", "/t/transaction", `{"success":[{"op":"put","key":"x","value":1},{"op":"increment","key":"s","by":1}]}`), 409, "conflict")
	expectProblem(t, call(t, ts.URL, "GET", "/t/storage/x", ""), 404, "not-found")
}

func TestIdempotencyKeyPassedThrough(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	call(t, ts.URL, "POST", "/i/increment", "", "Idempotency-Key", "req-42")
	call(t, ts.URL, "PUT", "/i/storage/k", "1", "Idempotency-Key", "req-43")
	call(t, ts.URL, "POST", "/i/transaction", "{}", "Idempotency-Key", "req-44")
	call(t, ts.URL, "DELETE", "/i/storage/k", "")
	var got []string
	for _, w := range node.writeCalls() {
		got = append(got, w.IdemKey)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{"req-42", "req-43", "req-44", ""}) {
		t.Fatalf("idempotency keys = %q", got)
	}
}

func TestIndexHeader(t *testing.T) {
	node := newFakeNode()
	ts := serve(t, Config{}, node)
	r := call(t, ts.URL, "POST", "/x/increment", "")
	r = call(t, ts.URL, "POST", "/x/increment", "")
	if got := r.header.Get("X-Dobj-Index"); got != "2" {
		t.Fatalf("X-Dobj-Index after two writes = %q, want 2", got)
	}
	r = call(t, ts.URL, "GET", "/x/storage/missing", "")
	if got := r.header.Get("X-Dobj-Index"); got != "2" {
		t.Fatalf("X-Dobj-Index of a 404 read = %q, want 2", got)
	}
}
