package classes

import "testing"

func TestSmokeCounter(t *testing.T) {
	p := mustCompile(t, "Counter", `
export class Counter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    let value = (await this.ctx.storage.get("value")) || 0;
    if (url.pathname === "/increment") { value++; await this.ctx.storage.put("value", value); }
    return Response.json({ name: this.ctx.id.name, value });
  }
}`)
	e := newTestEngine(t, Config{})
	st := newFakeState("card-1")
	ref := ClassRef{Name: "Counter", Version: 1, Program: p}
	for range 3 {
		mustDo(t, e, ref, "card-1", st, "POST", "/increment", "")
	}
	got := mustDo(t, e, ref, "card-1", st, "GET", "/", "")
	if got != `{"name":"card-1","value":3}` {
		t.Fatalf("got %s", got)
	}
}
