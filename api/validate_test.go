package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestBadInputProposesNothing(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	cfg := Config{MaxBodyBytes: 4096, MaxNameBytes: 16, MaxKeyBytes: 32, MaxValueBytes: 64, MaxListLimit: 10}
	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		typ                      string
	}{
		// names
		{"name starts with _", "POST", "/_x/increment", "", nil, 400, "bad-request"},
		{"escaped name starts with _", "POST", "/%5Fx/increment", "", nil, 400, "bad-request"},
		{"reserved name read", "GET", "/_cluster", "", nil, 400, "bad-request"},
		{"name too long", "POST", "/" + long(17) + "/increment", "", nil, 400, "bad-request"},
		{"name at limit is fine but key empty", "PUT", "/" + long(16) + "/storage/", "1", nil, 400, "bad-request"},
		{"name not UTF-8", "POST", "/%FF/increment", "", nil, 400, "bad-request"},
		{"name not UTF-8 storage", "PUT", "/%C3/storage/k", "1", nil, 400, "bad-request"},
		{"empty name", "POST", "//increment", "", nil, 400, "bad-request"},
		{"empty name storage", "PUT", "//storage/k", "1", nil, 400, "bad-request"},
		// keys
		{"empty key put", "PUT", "/o/storage/", "1", nil, 400, "bad-request"},
		{"empty key delete", "DELETE", "/o/storage/", "", nil, 400, "bad-request"},
		{"empty counter key", "POST", "/o/increment?key=", "", nil, 400, "bad-request"},
		{"key too long", "PUT", "/o/storage/" + long(33), "1", nil, 413, "too-large"},
		{"counter key too long", "POST", "/o/increment?key=" + long(33), "", nil, 413, "too-large"},
		{"key not UTF-8", "PUT", "/o/storage/%FFk", "1", nil, 400, "bad-request"},
		{"key not UTF-8 delete", "DELETE", "/o/storage/%FF", "", nil, 400, "bad-request"},
		// values and bodies
		{"value not JSON", "PUT", "/o/storage/k", "{nope", nil, 400, "bad-request"},
		{"value empty", "PUT", "/o/storage/k", "", nil, 400, "bad-request"},
		{"value two values", "PUT", "/o/storage/k", "1 2", nil, 400, "bad-request"},
		{"value not UTF-8", "PUT", "/o/storage/k", "\"\xff\"", nil, 400, "bad-request"},
		{"value too large", "PUT", "/o/storage/k", `"` + long(70) + `"`, nil, 413, "too-large"},
		{"body too large", "PUT", "/o/storage/k", `"` + long(5000) + `"`, nil, 413, "too-large"},
		{"txn body too large", "POST", "/o/transaction", `{"success":[` + strings.Repeat(`{"op":"get","key":"k"},`, 300) + `]}`, nil, 413, "too-large"},
		// by
		{"by not a number", "POST", "/o/increment?by=abc", "", nil, 400, "bad-request"},
		{"by fraction", "POST", "/o/increment?by=1.5", "", nil, 400, "bad-request"},
		{"by over int64", "POST", "/o/increment?by=9223372036854775808", "", nil, 400, "bad-request"},
		{"by empty", "POST", "/o/decrement?by=", "", nil, 400, "bad-request"},
		{"by hex", "POST", "/o/decrement?by=0x10", "", nil, 400, "bad-request"},
		{"malformed query", "POST", "/o/increment?by=%zz", "", nil, 400, "bad-request"},
		{"idempotency key too long", "POST", "/o/increment", "", []string{"Idempotency-Key", long(33)}, 400, "bad-request"},
		// reads
		{"bad consistency", "GET", "/o?consistency=strong", "", nil, 400, "bad-request"},
		{"bad consistency get", "GET", "/o/storage/k?consistency=LINEARIZABLE", "", nil, 400, "bad-request"},
		{"bad consistency list", "GET", "/o/storage?consistency=eventual", "", nil, 400, "bad-request"},
		{"negative limit", "GET", "/o/storage?limit=-1", "", nil, 400, "bad-request"},
		{"limit not a number", "GET", "/o/storage?limit=ten", "", nil, 400, "bad-request"},
		{"limit empty", "GET", "/o/storage?limit=", "", nil, 400, "bad-request"},
		{"start and startAfter", "GET", "/o/storage?start=a&startAfter=b", "", nil, 400, "bad-request"},
		{"reverse not bool", "GET", "/o/storage?reverse=maybe", "", nil, 400, "bad-request"},
		{"prefix not UTF-8", "GET", "/o/storage?prefix=%FF", "", nil, 400, "bad-request"},
		{"end too long", "GET", "/o/storage?end=" + long(33), "", nil, 400, "bad-request"},
		// transactions
		{"txn not JSON", "POST", "/o/transaction", `{`, nil, 400, "bad-request"},
		{"txn empty body", "POST", "/o/transaction", ``, nil, 400, "bad-request"},
		{"txn null", "POST", "/o/transaction", `null`, nil, 400, "bad-request"},
		{"txn array", "POST", "/o/transaction", `[]`, nil, 400, "bad-request"},
		{"txn trailing data", "POST", "/o/transaction", `{} {}`, nil, 400, "bad-request"},
		{"txn unknown field", "POST", "/o/transaction", `{"sucess":[]}`, nil, 400, "bad-request"},
		{"txn unknown op", "POST", "/o/transaction", `{"success":[{"op":"append","key":"k","value":1}]}`, nil, 400, "bad-request"},
		{"txn unknown op in failure", "POST", "/o/transaction", `{"failure":[{"op":"","key":"k"}]}`, nil, 400, "bad-request"},
		{"txn unknown compare", "POST", "/o/transaction", `{"compare":[{"key":"k","op":"greater","value":1}]}`, nil, 400, "bad-request"},
		{"txn put without value", "POST", "/o/transaction", `{"success":[{"op":"put","key":"k"}]}`, nil, 400, "bad-request"},
		{"txn equal without value", "POST", "/o/transaction", `{"compare":[{"key":"k","op":"equal"}]}`, nil, 400, "bad-request"},
		{"txn empty key", "POST", "/o/transaction", `{"success":[{"op":"get","key":""}]}`, nil, 400, "bad-request"},
		{"txn compare empty key", "POST", "/o/transaction", `{"compare":[{"key":"","op":"exists"}]}`, nil, 400, "bad-request"},
		{"txn key too long", "POST", "/o/transaction", `{"success":[{"op":"delete","key":"` + long(33) + `"}]}`, nil, 413, "too-large"},
		{"txn key not UTF-8", "POST", "/o/transaction", "{\"success\":[{\"op\":\"delete\",\"key\":\"\xff\"}]}", nil, 400, "bad-request"},
		{"txn value too large", "POST", "/o/transaction", `{"success":[{"op":"put","key":"k","value":"` + long(70) + `"}]}`, nil, 413, "too-large"},
		{"txn by fraction", "POST", "/o/transaction", `{"success":[{"op":"increment","key":"k","by":1.5}]}`, nil, 400, "bad-request"},
		{"txn by string", "POST", "/o/transaction", `{"success":[{"op":"increment","key":"k","by":"1"}]}`, nil, 400, "bad-request"},
		{"txn by overflow", "POST", "/o/transaction", `{"success":[{"op":"increment","key":"k","by":9223372036854775808}]}`, nil, 400, "bad-request"},
		{"txn bad name", "POST", "/_o/transaction", `{}`, nil, 400, "bad-request"},
		// system routes
		{"join not JSON", "POST", "/_cluster/join", `id=n4`, nil, 400, "bad-request"},
		{"join without raft_addr", "POST", "/_cluster/join", `{"id":"n4"}`, nil, 400, "bad-request"},
		{"join unknown field", "POST", "/_cluster/join", `{"id":"n4","raft_addr":"h:1","role":"x"}`, nil, 400, "bad-request"},
		{"partition without faults", "POST", "/_test/partition", `{"blocked":["n2"]}`, nil, 404, "not-found"},
		// routing
		{"unknown route", "GET", "/o/storage-x/k", "", nil, 404, "not-found"},
		{"key with dots and slashes is a key", "GET", "/o/storage/k/../x/extra?x", "", nil, 200, ""},
		{"method not allowed", "PATCH", "/o/storage/k", "1", nil, 405, "method-not-allowed"},
		{"method not allowed on counter", "PUT", "/o/increment", "", nil, 405, "method-not-allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			node := newFakeNode()
			ts := serve(t, cfg, node)
			r := call(t, ts.URL, c.method, c.path, c.body, c.header...)
			if c.status == 200 {
				// A key may hold dots and slashes: only a read, and 404.
				expectProblem(t, r, http.StatusNotFound, "not-found")
			} else {
				expectProblem(t, r, c.status, c.typ)
			}
			if w := node.writeCalls(); len(w) != 0 {
				t.Fatalf("bad input was proposed: %+v", w)
			}
			if node.joins != nil {
				t.Fatalf("bad join reached the node: %+v", node.joins)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{`1`, `1`},
		{` 1.50 `, `1.50`},
		{`-2e10`, `-2e10`},
		{`12345678901234567890123`, `12345678901234567890123`},
		{`"a\u00e9\n<>&"`, `"aé\n<>&"`},
		{`{"b":{"d":1,"c":2},"a":[ 3 , {"z":null,"y":false} ]}`, `{"a":[3,{"y":false,"z":null}],"b":{"c":2,"d":1}}`},
		{"\t[]\n", `[]`},
		{`{}`, `{}`},
	}
	for _, c := range cases {
		got, err := canonical([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("canonical(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `nan`, `1 2`, `{"a":1,}`, `'x'`, "\"\xff\""} {
		if _, err := canonical([]byte(bad)); err == nil {
			t.Errorf("canonical(%q) accepted", bad)
		}
	}
}
