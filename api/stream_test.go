package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// TestStreamedAnswersMatchWriteJSON: the streamed answers are byte for
// byte what writeJSON writes.
func TestStreamedAnswersMatchWriteJSON(t *testing.T) {
	yes, no, n := true, false, int64(3)
	res := objects.TxnResult{Succeeded: true, Results: []objects.Result{
		{Op: "get", Key: "a<&>\"\u2028", Found: &yes, Value: json.RawMessage(`{"x":"<&>"}`)},
		{Op: "get", Key: "b", Found: &no},
		{Op: "put", Key: "c"},
		{Op: "delete", Key: "d", Deleted: &no},
		{Op: "delete_all", Count: &n},
		{Op: "increment", Key: "e", Value: json.RawMessage(`-5`)},
	}}
	list := listResponse{Entries: []entryAnswer{{Key: "k\u00e9<", Value: json.RawMessage(`[1,"&"]`)}, {Key: "z", Value: json.RawMessage(`null`)}}, More: true}
	tests := []struct {
		name   string
		v      any
		stream func(c echo.Context) error
	}{
		{"txn", txnAnswerOf(res), func(c echo.Context) error { return writeTxnResult(c, txnAnswerOf(res)) }},
		{"empty txn", txnAnswerOf(objects.TxnResult{}), func(c echo.Context) error {
			return writeTxnResult(c, txnAnswerOf(objects.TxnResult{}))
		}},
		{"list", list, func(c echo.Context) error { return writeList(c, list) }},
		{"empty list", listResponse{Entries: []entryAnswer{}}, func(c echo.Context) error { return writeList(c, listResponse{Entries: []entryAnswer{}}) }},
	}
	e := echo.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			if err := writeJSON(e.NewContext(httptest.NewRequest("GET", "/", nil), want), 200, tt.v); err != nil {
				t.Fatal(err)
			}
			if err := tt.stream(e.NewContext(httptest.NewRequest("GET", "/", nil), got)); err != nil {
				t.Fatal(err)
			}
			if got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Fatalf("streamed %q (%s)\nwant     %q (%s)", got.Body, got.Header().Get("Content-Type"), want.Body, want.Header().Get("Content-Type"))
			}
		})
	}
}
