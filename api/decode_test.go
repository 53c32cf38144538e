package api

import (
	"strings"
	"testing"
)

// TestBadInputSaysWhatIsWrong checks the detail of 400s a person is likely
// to meet: a misspelt field is named, a value nested deeper than the
// decoder allows is called too deep (not "not valid JSON") with the limit.
func TestBadInputSaysWhatIsWrong(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name, method, path, body string
		detail                   []string // substrings of the detail
	}{
		{"misspelt top-level field", "POST", "/o/transaction", `{"sucess":[{"op":"get","key":"k"}]}`, []string{`unknown field "sucess"`}},
		{"misspelt op field", "POST", "/o/transaction", `{"success":[{"op":"put","kee":"k","value":1}]}`, []string{`unknown field "kee"`}},
		{"misspelt compare field", "POST", "/o/transaction", `{"compare":[{"key":"k","op":"equal","valeu":1}]}`, []string{`unknown field "valeu"`}},
		{"misspelt join field", "POST", "/_cluster/join", `{"id":"n4","raft_adr":"127.0.0.1:9084"}`, []string{`unknown field "raft_adr"`}},
		{"wrong type", "POST", "/o/transaction", `{"success":[{"op":"get","key":7}]}`, []string{`"success.key"`, "string"}},
		{"value too deep", "PUT", "/o/storage/k", nest(maxJSONDepth + 1), []string{"nested too deeply", "10000"}},
		{"txn value too deep", "POST", "/o/transaction", `{"success":[{"op":"put","key":"k","value":` + nest(maxJSONDepth) + `}]}`, []string{"nested too deeply", "10000"}},
		{"deep brackets in a string do not count", "PUT", "/o/storage/k", `"` + strings.Repeat("[", maxJSONDepth+1) + `" x`, []string{"not valid JSON"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			node := newFakeNode()
			ts := serve(t, Config{MaxBodyBytes: 1 << 20, MaxValueBytes: 1 << 20}, node)
			p := expectProblem(t, call(t, ts.URL, c.method, c.path, c.body), 400, "bad-request")
			for _, want := range c.detail {
				if !strings.Contains(p.Detail, want) {
					t.Errorf("detail %q does not contain %q", p.Detail, want)
				}
			}
			if n := len(node.writeCalls()); n != 0 {
				t.Errorf("%d writes proposed for a bad request", n)
			}
		})
	}
}

// TestDeepButAllowedValueIsStored: the limit is the decoder's, not lower.
func TestDeepButAllowedValueIsStored(t *testing.T) {
	ts := serve(t, Config{MaxValueBytes: 1 << 20}, newFakeNode())
	v := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	expectOK(t, call(t, ts.URL, "PUT", "/o/storage/k", v), `{"ok":true}`+"\n")
}
