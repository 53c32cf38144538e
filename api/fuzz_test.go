package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dobj/dobj/objects"
)

// FuzzCanonical: any bytes are refused with a 400 or canonicalized to
// valid JSON that canonicalizes to itself.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2.50,"x"]}`, `"\u00e9<>&"`, `1e400`, `{"a":1,"a":2}`, `nul`, "\"\xff\"", ` [ ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := canonical(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		again, err := canonical(v)
		if err != nil || !bytes.Equal(again, v) {
			t.Fatalf("canonical form %q does not canonicalize to itself: %q, %v", v, again, err)
		}
	})
}

// FuzzParseTxn: any transaction body is refused with a 4xx or parses to a
// transaction that passes the limits.
func FuzzParseTxn(f *testing.F) {
	for _, s := range []string{
		`{"compare":[{"key":"a","op":"equal","value":1}],"success":[{"op":"put","key":"a","value":{"x":[1]}}],"failure":[{"op":"get","key":"a"}]}`,
		`{"success":[{"op":"increment","key":"n","by":-3},{"op":"delete_all"}]}`,
		`{"success":[{"op":"put","key":"","value":1}]}`,
		`{"nope":1}`, `[]`, `{"success":[{"op":"increment","key":"n","by":1.5}]}`,
	} {
		f.Add([]byte(s))
	}
	s := newFakeServer(Config{}, newFakeNode())
	f.Fuzz(func(t *testing.T, body []byte) {
		txn, err := s.parseTxn(body)
		if err != nil {
			if st := problemFor(err).Status; st < 400 || st >= 500 {
				t.Fatalf("error %v maps to %d, not a 4xx", err, st)
			}
			return
		}
		if err := s.limits.Validate("o", txn); err != nil && !errors.Is(err, objects.ErrTooLarge) {
			t.Fatalf("a parsed transaction is invalid: %v", err)
		}
	})
}

// FuzzRequest: any method, path, query and body sent to the API is
// answered below 500 (names, keys, query parameters and bodies are all
// checked), and a refused write reaches no node.
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), "/o/storage/k", "consistency=stale", "")
	f.Add(uint8(1), "/o/storage/a%2Fb", "", `{"x":1}`)
	f.Add(uint8(2), "/o/increment", "by=-9223372036854775808&key=k", "")
	f.Add(uint8(2), "/o/transaction", "", `{"success":[{"op":"get","key":"k"}]}`)
	f.Add(uint8(3), "/o/storage", "prefix=a&limit=3&reverse", "")
	f.Add(uint8(0), "/o/storage", "start=a&startAfter=b&limit=-1", "")
	f.Add(uint8(2), "/%FF/decrement", "by=%zz", "")
	f.Add(uint8(0), "/_cluster/status", "", "")
	methods := []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}
	f.Fuzz(func(t *testing.T, m uint8, path, query, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?") || strings.ContainsAny(query, " \r\n\t#") {
			return // not a request line a client can send
		}
		node := newFakeNode()
		s := newFakeServer(Config{MaxBodyBytes: 1 << 12}, node)
		req, err := http.NewRequest(methods[int(m)%len(methods)], "http://x"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s %q: %d %s", req.Method, path, query, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && len(node.writeCalls()) > 0 {
			t.Fatalf("%s %s?%s: %d, but a write reached the node", req.Method, path, query, rec.Code)
		}
	})
}
