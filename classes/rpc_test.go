package classes

import (
	"context"
	"errors"
	"testing"
)

const rpcCounter = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.label = "c"; }
  async increment(by = 1) {
    const v = ((await this.ctx.storage.get("v")) || 0) + by;
    await this.ctx.storage.put("v", v);
    return v;
  }
  async both(m, d) { return { size: m.size, year: d.getUTCFullYear(), id: this.ctx.id.toString() }; }
  greeting() { return this.env.GREETING + " " + this.env.SECRET; }
  nothing() {}
  async fail() { await this.ctx.storage.put("lost", 1); throw new RangeError("too far"); }
  fetch() { return new Response("hi"); }
}
`

func rpcOf(t *testing.T, e *Engine, ref ClassRef, st *fakeState, method, args string) (*RPCResult, error) {
	t.Helper()
	return e.RPC(context.Background(), ref, st.object, method, []byte(args), st, st.apply)
}

func TestRPCCallsMethodsWithClonedValues(t *testing.T) {
	e := newTestEngine(t, Config{})
	prog := mustCompile(t, "Counter", rpcCounter).WithEnv([]byte(`{"GREETING":"hello","SECRET":"s3"}`))
	ref := ClassRef{Name: "Counter", Version: 1, Program: prog}
	st := newFakeState("obj1")
	res, err := rpcOf(t, e, ref, st, "increment", `[]`)
	if err != nil || string(res.Value) != "1" {
		t.Fatalf("increment() = %v, %v; want 1", res, err)
	}
	res, err = rpcOf(t, e, ref, st, "increment", `[2]`)
	if err != nil || string(res.Value) != "3" || st.get("v") != "3" {
		t.Fatalf("increment(2) = %v, %v, stored %s; want 3", res, err, st.get("v"))
	}
	res, err = rpcOf(t, e, ref, st, "both", `[{"$map":[["a",1],["b",2]]},{"$date":"2026-01-02T00:00:00.000Z"}]`)
	if err != nil || string(res.Value) != `{"id":"obj1","size":2,"year":2026}` {
		t.Fatalf("both = %s, %v", res.Value, err)
	}
	res, err = rpcOf(t, e, ref, st, "greeting", ``)
	if err != nil || string(res.Value) != `"hello s3"` {
		t.Fatalf("greeting = %s, %v; want the env's vars", res.Value, err)
	}
	res, err = rpcOf(t, e, ref, st, "nothing", `[]`)
	if err != nil || res.Value != nil {
		t.Fatalf("nothing = %s, %v; want undefined", res.Value, err)
	}
	res, err = rpcOf(t, e, ref, st, "label", `[]`)
	if err != nil || string(res.Value) != `"c"` {
		t.Fatalf("label = %s, %v; want the property's value", res.Value, err)
	}
}

func TestRPCErrors(t *testing.T) {
	e := newTestEngine(t, Config{})
	ref := ClassRef{Name: "Counter", Version: 1, Program: mustCompile(t, "Counter", rpcCounter)}
	st := newFakeState("obj1")
	for _, tt := range []struct{ method, name, msg string }{
		{"fail", "RangeError", "RangeError: too far"},
		{"missing", "TypeError", `TypeError: The RPC receiver does not implement the method "missing".`},
		{"fetch", "TypeError", `TypeError: The RPC receiver does not implement the method "fetch".`},
		{"constructor", "TypeError", `TypeError: The RPC receiver does not implement the method "constructor".`},
	} {
		_, err := rpcOf(t, e, ref, st, tt.method, `[]`)
		var se *ScriptError
		if !errors.As(err, &se) || se.Name != tt.name || se.Message != tt.msg {
			t.Errorf("%s: err = %#v; want %s %q", tt.method, err, tt.name, tt.msg)
		}
	}
	if st.get("lost") != "" || st.commits != 0 {
		t.Fatalf("a method that threw committed: lost=%q commits=%d", st.get("lost"), st.commits)
	}
	if _, err := rpcOf(t, e, ref, st, "increment", `{"a":1}`); err == nil {
		t.Fatal("arguments that are not an array were accepted")
	}
}

// TestRPCScalarArgsDecodeAsJSONParse: the arguments rpcArgs decodes
// without JSON.parse are the values JavaScript's JSON.parse gives (1e400
// is Infinity, which goja's refused), and anything else goes to
// JSON.parse.
func TestRPCScalarArgsDecodeAsJSONParse(t *testing.T) {
	e := newTestEngine(t, Config{})
	prog := mustCompile(t, "Echo", `
export class Echo {
  show(...args) {
    return args.map((a) => typeof a + ":" + (Object.is(a, -0) ? "-0" : typeof a === "object" && a !== null ? JSON.stringify(a) : String(a))).join("|");
  }
}`)
	ref := ClassRef{Name: "Echo", Version: 1, Program: prog}
	st := newFakeState("e1")
	for _, tc := range []struct{ args, want string }{
		{`[]`, `""`},
		{` [ ] `, `""`},
		{`[1]`, `"number:1"`},
		{`[ -2.5e3 ]`, `"number:-2500"`},
		{`[-0]`, `"number:-0"`},
		{`[1e400]`, `"number:Infinity"`},
		{`[9007199254740993]`, `"number:9007199254740992"`},
		{`[true]`, `"boolean:true"`},
		{`[null]`, `"object:null"`},
		{`["a,b"]`, `"string:a,b"`},
		{`["a\"b"]`, `"string:a\"b"`},
		{`["é"]`, `"string:é"`},
		{`[1,2]`, `"number:1|number:2"`},
		{`["a","b"]`, `"string:a|string:b"`},
		{`[[1]]`, `"object:[1]"`},
		{`[{"$date":"2026-01-02T00:00:00.000Z"}]`, `"object:\"2026-01-02T00:00:00.000Z\""`},
	} {
		res, err := rpcOf(t, e, ref, st, "show", tc.args)
		if err != nil {
			t.Errorf("show(%s): %v", tc.args, err)
		} else if string(res.Value) != tc.want {
			t.Errorf("show(%s) = %s, want %s", tc.args, res.Value, tc.want)
		}
	}
	for _, bad := range []string{`[-Inf]`, `[0x1p4]`, `[1`, `[1]]`, `[,]`} {
		if res, err := rpcOf(t, e, ref, st, "show", bad); err == nil {
			t.Errorf("show(%s) = %s, want a TypeError", bad, res.Value)
		}
	}
}
