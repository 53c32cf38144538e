package classes

import (
	"errors"
	"testing"
)

// TestAmplifyingBuiltinsAreBounded: built-ins that would allocate a huge
// value in one uninterruptible step throw first; ordinary sizes work.
func TestAmplifyingBuiltinsAreBounded(t *testing.T) {
	tests := []struct {
		expr string
		want error // nil: runs and returns "ok"
	}{
		{`"x".repeat(1e8)`, ErrStringTooLarge},
		{`"ab".repeat(9e6)`, ErrStringTooLarge},
		{`"".padStart(1e8, "x")`, ErrStringTooLarge},
		{`"".padEnd(1e8, "x")`, ErrStringTooLarge},
		{`new Array(1e8).join("x")`, ErrStringTooLarge},
		{`new Array(1e8).fill(0)`, ErrArrayTooLarge},
		{`Array.from({length: 1e8})`, ErrArrayTooLarge},
		{`new ArrayBuffer(1e9)`, ErrArrayTooLarge},
		{`new Uint8Array(1e9)`, ErrArrayTooLarge},
		{`new Float64Array(1e8)`, ErrArrayTooLarge},
		{`new TextDecoder().decode(new Uint8Array(1 << 25))`, ErrStringTooLarge},
		{`(() => { let o = {}; for (let i = 0; i < 100000; i++) o = {o}; return JSON.stringify(o) })()`, ErrTooDeep},
		{`(() => { let a = []; for (let i = 0; i < 5000; i++) a = [a]; return Response.json(a) })()`, ErrTooDeep},
		{`(() => { let o = {}; for (let i = 0; i < 900; i++) o = {o}; return JSON.stringify(o).length > 0 && "ok" })()`, nil},
		{`(() => { let deep = {}; for (let i = 0; i < 600; i++) deep = {deep}; let o = {deep}; for (let i = 0; i < 600; i++) o = {o}; return JSON.stringify({a: deep, b: o}) })()`, ErrTooDeep},
		{`(() => { const s = {k: 1}; return JSON.stringify([s, s, {a: [s]}], null, 1).length > 0 && "ok" })()`, nil},
		{`(() => { const o = {}; o.o = o; try { JSON.stringify(o) } catch (e) { return e instanceof TypeError && "ok" } })()`, nil},
		{`JSON.stringify({a: [1, {b: 2}]}, (k, v) => v) === '{"a":[1,{"b":2}]}' && JSON.stringify(5) === "5" && JSON.stringify(undefined) === undefined && "ok"`, nil},
		{`"x".repeat(1e6).replaceAll("x", "y".repeat(20))`, ErrStringTooLarge},
		{`"x".repeat(1e5).replace(/x/g, "y".repeat(200))`, ErrStringTooLarge},
		{`"x".repeat(1e4).replace(/x/g, () => "y".repeat(5000))`, ErrStringTooLarge},
		{"\"x\".repeat(1e4).replace(/x/g, \"$`$'\")", ErrStringTooLarge},
		{`"x".concat("y".repeat(9e6), "z".repeat(9e6))`, ErrStringTooLarge},
		{`JSON.parse("[".repeat(1 << 20))`, ErrTooDeep},
		{`new Request("http://dobj.test/", {method: "POST", body: "[".repeat(1 << 20)}).json()`, ErrTooDeep},
		{`"ab".repeat(5e4).replace(/a/g, "$&$&$&$&$&$&$&" + "-".repeat(200)).length === 104e5 && "ok"`, nil},
		{`"x".repeat(1e6).replaceAll("x", "yy").length === 2e6 && "x".repeat(1e6).replaceAll("y", "z".repeat(100)).length === 1e6 && "ok"`, nil},
		{`"a-b-c".replaceAll("-", "+") === "a+b+c" && "abc".replace("b", "$&$$$&") === "ab$bc" && "aXbX".replace(/X/g, (m, i) => i) === "a1b3" && "ok"`, nil},
		{"\"abc\".replace(\"b\", \"[$`|$']\") === \"a[a|c]c\" && \"aa\".replaceAll(\"\", \"-\") === \"-a-a-\" && \"ok\"", nil},
		{`(() => { const m = {[Symbol.replace]: (s, r) => s + r}; return "a".replace(m, "b") === "ab" && "ok" })()`, nil},
		{`(() => { try { "a".replaceAll(/a/, "b") } catch (e) { return e instanceof TypeError && "ok" } })()`, nil},
		{`"a".concat(1, null) === "a1null" && String.prototype.concat.call(2, "x") === "2x" && "ok"`, nil},
		{`JSON.parse('[1,{"a":"]"}]')[1].a === "]" && JSON.parse('["\\"[[["]')[0] === '"[[[' && JSON.parse('{"a":1}', (k, v) => typeof v === "number" ? v + 1 : v).a === 2 && "ok"`, nil},
		{`(() => { let s = "1"; for (let i = 0; i < 900; i++) s = "[" + s + "]"; return JSON.parse(s).length === 1 && "ok" })()`, nil},
		{`(() => { try { JSON.parse("{") } catch (e) { return e instanceof SyntaxError && "ok" } })()`, nil},
		{`[String.prototype.replace.name, String.prototype.replaceAll.name, String.prototype.concat.name, JSON.parse.name].join() === "replace,replaceAll,concat,parse" && "ok"`, nil},
		{`"x".repeat(1000).length === 1000 && "ok"`, nil},
		{`"7".padStart(3, "0") === "007" && "7".padEnd(2) === "7 " && "ok"`, nil},
		{`[1, 2].join("-") === "1-2" && [1, 2].join() === "1,2" && "ok"`, nil},
		{`new Array(3).fill(1).length === 3 && Array.from({length: 2}, (_, i) => i)[1] === 1 && Array.from(new Set([1])).length === 1 && "ok"`, nil},
		{`new Uint8Array(16).length === 16 && new ArrayBuffer(8).byteLength === 8 && new Uint8Array([1, 2])[1] === 2 && "ok"`, nil},
		{`new TextEncoder().encode("x") instanceof Uint8Array && new Uint8Array(1).constructor === Uint8Array && "ok"`, nil},
		{`(() => { class B extends Uint8Array {}; const b = new B(2); return b instanceof B && b instanceof Uint8Array && b.length === 2 && "ok" })()`, nil},
		{`ArrayBuffer.isView(new Uint8Array(1)) && Uint8Array.BYTES_PER_ELEMENT === 1 && Uint8Array.from([1]).length === 1 && "ok"`, nil},
		{`(() => { try { Uint8Array(1) } catch (e) { return e instanceof TypeError && "ok" } })()`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := runBody(t, newTestEngine(t, Config{}), newFakeState("o"), `return `+tt.expr)
			if tt.want == nil {
				if err != nil || got != `"ok"` {
					t.Fatalf("got %s, %v; want \"ok\"", got, err)
				}
				return
			}
			var se *ScriptError
			if !errors.As(err, &se) || !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want a ScriptError carrying %v", err, tt.want)
			}
		})
	}
}
