package classes

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestValueRoundTrip: a value put in one call is stored as the given JSON
// and reads back in the next call as the same value.
func TestValueRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		stored string
		back   string // show() of the value read back; "" = show(expr)
	}{
		{"integer", `42`, `42`, ""},
		{"negative", `-7`, `-7`, ""},
		{"float", `0.1`, `0.1`, ""},
		{"big float", `1e21`, `1e+21`, ""},
		{"small float", `1.5e-7`, `1.5e-7`, ""},
		{"max safe", `Number.MAX_SAFE_INTEGER`, `9007199254740991`, ""},
		{"minus zero", `-0`, `0`, `0`},
		{"NaN", `NaN`, `{"$num":"NaN"}`, ""},
		{"Infinity", `Infinity`, `{"$num":"Infinity"}`, ""},
		{"-Infinity", `-Infinity`, `{"$num":"-Infinity"}`, ""},
		{"string", `"héllo \"q\" \\ \n\t\u0001 <&> \u2028"`, `"héllo \"q\" \\ \n\t\u0001 <&> \u2028"`, ""},
		{"empty string", `""`, `""`, ""},
		{"booleans", `[true, false]`, `[true,false]`, ""},
		{"null", `null`, `null`, ""},
		{"array", `[1, "a", [null, []]]`, `[1,"a",[null,[]]]`, ""},
		{"array with undefined and holes", `[undefined, , 1]`, `[null,null,1]`, `[null,null,1]`},
		{"object keys sorted", `{b: 1, a: {d: 2, c: 3}}`, `{"a":{"c":3,"d":2},"b":1}`, `{"a":{"c":3,"d":2},"b":1}`},
		{"object undefined dropped", `{a: undefined, b: 1}`, `{"b":1}`, `{"b":1}`},
		{"empty object", `{}`, `{}`, ""},
		{"class instance is plain", `new (class P { constructor() { this.x = 1 } })()`, `{"x":1}`, `{"x":1}`},
		{"null prototype", `Object.assign(Object.create(null), {k: 1})`, `{"k":1}`, ""},
		{"Map", `new Map([["b", 1], [2, {x: new Map()}]])`, `{"$map":[["b",1],[2,{"x":{"$map":[]}}]]}`, ""},
		{"Set", `new Set([3, "a", 3])`, `{"$set":[3,"a"]}`, ""},
		{"Date", `new Date(Date.UTC(2026, 10, 29, 12, 0, 0, 5))`, `{"$date":"2026-11-29T12:00:00.005Z"}`, ""},
		{"Date far", `new Date(8.64e15)`, `{"$date":8640000000000000}`, ""},
		{"invalid Date", `new Date(NaN)`, `{"$date":null}`, ""},
		{"BigInt", `2n ** 70n`, `{"$bigint":"1180591620717411303424"}`, ""},
		{"tag-like object escaped", `{$map: 1}`, `{"$obj":{"$map":1}}`, ""},
		{"tag-like nested", `[{$date: "x"}, {$a: {$b: 2}}]`, `[{"$obj":{"$date":"x"}},{"$obj":{"$a":{"$obj":{"$b":2}}}}]`, ""},
		{"two dollar keys not escaped", `{$a: 1, $b: 2}`, `{"$a":1,"$b":2}`, ""},
		{"nested mix", `{when: new Date(0), seen: new Set(["x"]), m: new Map([["k", [1n]]])}`,
			`{"m":{"$map":[["k",[{"$bigint":"1"}]]]},"seen":{"$set":["x"]},"when":{"$date":"1970-01-01T00:00:00.000Z"}}`,
			`{"m":Map{"k"=>[1n]},"seen":Set{"x"},"when":Date(1970-01-01T00:00:00.000Z)}`},
		{"Map subclass", `new (class M extends Map {})([[1, 2]])`, `{"$map":[[1,2]]}`, `Map{1=>2}`},
		{"shared reference stored twice", `(() => { const o = {a: 1}; return [o, o] })()`, `[{"a":1},{"a":1}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Config{})
			st := newFakeState("o")
			want, err := runBody(t, e, st, `const v = `+tt.expr+`; await storage.put("v", v); return v`)
			if err != nil {
				t.Fatal(err)
			}
			if tt.back != "" {
				want = tt.back
			}
			if got := st.get("v"); got != tt.stored {
				t.Fatalf("stored %s\nwant   %s", got, tt.stored)
			}
			if c := canonicalJSON(t, st.get("v")); c != tt.stored {
				t.Fatalf("stored %s is not canonical (%s)", tt.stored, c)
			}
			got, err := runBody(t, e, st, `return await storage.get("v")`)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("read back %s\nwant      %s", got, want)
			}
		})
	}
}

// TestValueRefused: what structured clone of JSON-like data cannot keep.
func TestValueRefused(t *testing.T) {
	for _, expr := range []string{
		`undefined`, `() => 1`, `Symbol("s")`, `{f: function () {}}`, `[Symbol.iterator]`,
		`/re/`, `new Error("e")`, `new Uint8Array(2)`, `new ArrayBuffer(2)`, `new DataView(new ArrayBuffer(1))`, `new Number(1)`, `new Proxy({}, {})`, `new Proxy(new Map(), {})`, `Promise.resolve(1)`, `new WeakMap()`,
		`(() => { const a = []; a.push(a); return a })()`,
		`(() => { const m = new Map(); m.set("self", m); return m })()`,
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := runBody(t, newTestEngine(t, Config{}), newFakeState("o"), `await storage.put("v", `+expr+`)`)
			if msg := scriptMessage(t, err); !strings.Contains(msg, "DataCloneError") {
				t.Fatalf("error %q, want a DataCloneError-like TypeError", msg)
			}
		})
	}
}

// TestStoredJSONFromOperators: values written by the HTTP API (any
// canonical JSON, tags included) read as the values they denote.
func TestStoredJSONFromOperators(t *testing.T) {
	tests := []struct{ stored, want string }{
		{`{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null}]}`},
		{`{"$date":"2026-01-02T03:04:05Z"}`, `Date(2026-01-02T03:04:05.000Z)`},
		{`{"$date":"garbage"}`, `Date(invalid)`},
		{`{"$unknown":1}`, `{"$unknown":1}`},
		{`{"$map":[["a",{"$set":[1]}]]}`, `Map{"a"=>Set{1}}`},
		{`{"$num":"weird"}`, `{"$num":"weird"}`},
		{`"$map"`, `"$map"`},
		{`-0`, `-0`},
		{`-0.5`, `-0.5`},
		{`1e400`, `Infinity`},
		{`12345678901234567890`, `12345678901234567000`},
		{`9007199254740993`, `9007199254740992`},
		{`1.5`, `1.5`},
		{`"é \u00e9 \n"`, `"é é \n"`},
		{`"plain"`, `"plain"`},
		{`true`, `true`},
		{`null`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.stored, func(t *testing.T) {
			st := newFakeState("o")
			st.load("v", tt.stored)
			got, err := runBody(t, newTestEngine(t, Config{}), st, `return await storage.get("v")`)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestWriteStringMatchesEncodingJSON: strings are escaped byte for byte as
// encoding/json (HTML escaping off) escapes them, the api's canonical form.
func TestWriteStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted"`, `back\slash`, "\x00\x01\x1f\x7f", "\b\f\n\r\t", "<>&", "\u2028\u2029",
		"héllo wörld ☃ 𝄞", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", strings.Repeat("ab\"", 100),
	} {
		var buf bytes.Buffer
		writeString(&buf, s)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("writeString(%q) = %s, want %s", s, got, want.String())
		}
		if !utf8.Valid(buf.Bytes()) {
			t.Errorf("writeString(%q) is not UTF-8", s)
		}
	}
}

// canonicalJSON is the api's canonicalization (api/request.go): decode with
// UseNumber, re-encode without HTML escaping.
func canonicalJSON(t *testing.T, raw string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stored value %s is not JSON: %v", raw, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
