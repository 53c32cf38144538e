package classes

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, class, src string
		lang             Lang
		line             int    // of the *CompileError; -1: not a CompileError
		msg              string // contained in the error
		want             error  // errors.Is, when not a CompileError
	}{
		{"syntax error", "C", "export class C {\n  fetch() {\n    return 1 +;\n  }\n}\n", JavaScript, 3, "Unexpected \";\"", nil},
		{"unclosed", "C", "export class C {\n  fetch() {\n", JavaScript, 3, "Unexpected end of file", nil},
		{"missing export", "C", "export class D {}\n", JavaScript, 0, "does not export class C (it exports D)", nil},
		{"declared not exported", "C", "// header\n\nclass C {}\nexport class D {}\n", JavaScript, 3, "declared here but not exported", nil},
		{"exported function is not a class", "C", "export function C() {}\n", JavaScript, 0, "does not export class C", nil},
		{"nothing exported", "C", "const x = 1;\n", JavaScript, 0, "does not export class C", nil},
		{"relative import", "C", "import { x } from \"./other.js\";\nexport class C {}\n", JavaScript, 1, "Could not resolve", nil},
		{"TypeScript in a .js module", "C", "export class C {\n  n: number = 1;\n}\n", JavaScript, 2, "", nil},
		{"TypeScript type error is not checked", "C", "export class C {\n  n: number = \"x\";\n}\n", TypeScript, -2, "", nil},
		{"top level throws", "C", "throw new Error(\"at load\");\nexport class C {}\n", JavaScript, 0, "at load", nil},
		{"unknown language", "C", "export class C {}", "py", 0, "unknown language", nil},
		{"bad class name", "1C", "export class C {}", JavaScript, -1, "", ErrInvalidClassName},
		{"class name too long", strings.Repeat("C", 65), "export class C {}", JavaScript, -1, "", ErrInvalidClassName},
		{"source too large", "C", "export class C {}\n//" + strings.Repeat("x", 1<<20), JavaScript, -1, "", ErrSourceTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.class, []byte(tt.src), tt.lang)
			if tt.line == -2 {
				if err != nil {
					t.Fatalf("Compile: %v (types are stripped, not checked)", err)
				}
				return
			}
			if p != nil || err == nil {
				t.Fatalf("Compile = %v, %v; want an error", p, err)
			}
			var ce *CompileError
			if tt.line == -1 {
				if !errors.Is(err, tt.want) || errors.As(err, &ce) {
					t.Fatalf("error %v, want %v", err, tt.want)
				}
				return
			}
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *CompileError", err, err)
			}
			if ce.Line != tt.line || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("CompileError{Line: %d, Message: %q}, want line %d with %q", ce.Line, ce.Message, tt.line, tt.msg)
			}
			if tt.line > 0 && !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("Error() = %q does not name the line", err.Error())
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name, class, src string
		lang             Lang
	}{
		{"plain", "C", "export class C { async fetch() { return new Response('') } }", JavaScript},
		{"modern syntax", "C", `
export class C {
  #count = 0;
  static version = 2;
  async fetch(request) {
    const q = new URL(request.url).searchParams.get("q") ?? "none";
    const o = { ...{ a: 1 }, b: request?.method };
    for await (const x of (async function* () { yield 1; })()) this.#count += x;
    return Response.json({ q, o, count: this.#count, v: C.version });
  }
}`, JavaScript},
		{"Cloudflare's DurableObject base", "Counter", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); }
  async fetch() { return new Response(this.ctx.id.name); }
}`, JavaScript},
		{"TypeScript", "T", `
interface Point { x: number; y: number }
type Maybe<T> = T | undefined;
enum Mode { A = "a", B = "b" }
export class T {
  private p: Point = { x: 1, y: 2 };
  constructor(private ctx: any, env: unknown) {}
  async fetch(request: Request): Promise<Response> {
    const m: Maybe<Mode> = Mode.B;
    return new Response(String(this.p.x + this.p.y) + m);
  }
}`, TypeScript},
		{"default export alongside", "C", "export class C {}\nexport default { fetch() {} };", JavaScript},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.class, []byte(tt.src), tt.lang)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if p.Class() != tt.class || p.Code() == "" {
				t.Fatalf("Program class %q, code %d bytes", p.Class(), len(p.Code()))
			}
		})
	}
}

// TestCompiledClassesRun: modern syntax, Cloudflare's base class and
// TypeScript run, not only compile.
func TestCompiledClassesRun(t *testing.T) {
	tests := []struct {
		class, src string
		lang       Lang
		want       string
	}{
		{"C", `
export class C {
  #count = 0;
  static version = 2;
  async fetch(request) {
    const q = new URL(request.url).searchParams.get("q") ?? "none";
    const o = { ...{ a: 1 }, b: request?.method };
    for await (const x of (async function* () { yield 1; yield 2; })()) this.#count += x;
    return Response.json({ q, o, count: this.#count, v: C.version });
  }
}`, JavaScript, `{"q":"none","o":{"a":1,"b":"GET"},"count":3,"v":2}`},
		{"Counter", `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch() { return new Response(this.ctx.id.name + ":" + typeof this.env); }
}`, JavaScript, `o:object`},
		{"T", `
enum Mode { A = "a", B = "b" }
export class T {
  private p: { x: number } = { x: 41 };
  constructor(private ctx: any, env: unknown) {}
  async fetch(request: Request): Promise<Response> {
    return new Response(String(this.p.x + 1) + Mode.B + this.ctx.id.name);
  }
}`, TypeScript, `42bo`},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			p, err := Compile(tt.class, []byte(tt.src), tt.lang)
			if err != nil {
				t.Fatal(err)
			}
			got := mustDo(t, newTestEngine(t, Config{}), ClassRef{Name: tt.class, Version: 1, Program: p}, "o", newFakeState("o"), "GET", "/", "")
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestExportedClasses(t *testing.T) {
	tests := []struct {
		src  string
		lang Lang
		want []string
	}{
		{"export class B {}\nexport class A {}\nexport function f() {}\nexport const x = 1;\nclass Hidden {}", JavaScript, []string{"A", "B"}},
		{"class A {}\nexport { A as Renamed };", JavaScript, []string{"Renamed"}},
		{"export const x = 1;", JavaScript, nil},
		{"export default class D {}\nexport class N {}", JavaScript, []string{"N"}},
		{"export class T { n: number = 1 }", TypeScript, []string{"T"}},
	}
	for _, tt := range tests {
		got, err := ExportedClasses([]byte(tt.src), tt.lang)
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Fatalf("%q: %v, want %v", tt.src, got, tt.want)
		}
	}
	if _, err := ExportedClasses([]byte("export class {"), JavaScript); err == nil {
		t.Fatal("a syntax error listed classes")
	}
}

func TestCheckClassName(t *testing.T) {
	for name, ok := range map[string]bool{
		"Counter": true, "_x": true, "$": true, "a1": true, "Ünïcode": true, strings.Repeat("a", 64): true,
		"": false, "1a": false, "a-b": false, "a b": false, strings.Repeat("a", 65): false, "a\xff": false,
	} {
		if err := CheckClassName(name); (err == nil) != ok {
			t.Errorf("CheckClassName(%q) = %v", name, err)
		}
	}
}
