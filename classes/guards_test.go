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
