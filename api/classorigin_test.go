package api

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/cluster"
)

// TestClassCodeKeptFromTheConsolesOrigin: a class never sees dobj's
// cookies, cannot set them, and its answers, errors included, are
// sandboxed and not sniffed.
func TestClassCodeKeptFromTheConsolesOrigin(t *testing.T) {
	f := newFakeClassNode()
	f.classes["Chat"] = cluster.Class{Name: "Chat"}
	f.response = &classes.Response{Status: 200, Body: []byte("<script>steal()</script>"), Header: http.Header{
		"Content-Type": {"text/html"},
		"Set-Cookie":   {"dobj_session_n1=evil; Path=/", "__Host-dobj_session=evil; Path=/; Secure", "theme=dark; Path=/do/Chat"},
	}}
	ts := serve(t, Config{NodeID: "n1"}, f)
	r := call(t, ts.URL, "GET", "/do/Chat/room/", "", "Cookie", "theme=light; dobj_session_n1=abc; __Host-dobj_session_n2=def; lang=en")
	if r.status != 200 {
		t.Fatalf("call: %d %s", r.status, r.body)
	}
	f.cmu.Lock()
	got := f.calls[0].req.Header.Values("Cookie")
	f.cmu.Unlock()
	if want := []string{"theme=light; lang=en"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the class saw Cookie %q, want %q", got, want)
	}
	if got, want := r.header.Values("Set-Cookie"), []string{"theme=dark; Path=/do/Chat"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Set-Cookie passed on: %q, want %q", got, want)
	}
	for _, path := range []string{"/do/Chat/room/", "/do/Missing/room/"} {
		r := call(t, ts.URL, "GET", path, "")
		if r.header.Get("Content-Security-Policy") != "sandbox" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s (%d): CSP %q, X-Content-Type-Options %q", path, r.status, r.header.Get("Content-Security-Policy"), r.header.Get("X-Content-Type-Options"))
		}
	}
}

func TestStripDobjCookies(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want []string
	}{
		{[]string{"dobj_session=a"}, nil},
		{[]string{"a=1;dobj_token=x", "__Secure-dobj_x=1; b=\"q;r\""}, []string{"a=1", "b=\"q; r\""}},
		{[]string{"dobjx=1; x_dobj_session=2"}, []string{"dobjx=1; x_dobj_session=2"}},
	} {
		h := http.Header{"Cookie": tt.in}
		stripDobjCookies(h)
		if got := h.Values("Cookie"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %q, want %q", tt.in, got, tt.want)
		}
	}
}
