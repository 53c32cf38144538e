package classes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/objects"
)

// memState is one object's committed storage: what a caller implements
// over its store (dobj's cluster does over the FSM).
type memState struct {
	store  *objects.Store
	object string
}

func (m memState) Get(key string) (json.RawMessage, bool) { return m.store.Get(m.object, key) }

func (m memState) List(o objects.ListOptions) []objects.Entry {
	e, _, _ := m.store.List(m.object, o)
	return e
}

func (m memState) Alarm() (int64, bool) { return 0, false }

func ExampleEngine_Call() {
	program, err := classes.Compile("Counter", []byte(`
export class Counter {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const value = ((await this.ctx.storage.get("value")) ?? 0) + 1;
    await this.ctx.storage.put("value", value);
    return Response.json({ name: this.ctx.id.name, value });
  }
}`), classes.JavaScript)
	if err != nil {
		fmt.Println(err)
		return
	}
	engine := classes.NewEngine(classes.Config{})
	ref := classes.ClassRef{Name: "Counter", Version: 1, Program: program}
	state := memState{store: objects.NewStore(), object: "card-1"}
	// commit applies the call's writes as one transaction; dobj proposes
	// them through Raft and returns once they are applied.
	commit := func(e classes.Effects, _ *classes.Response) error {
		_, err := state.store.Apply(state.object, objects.Txn{Success: e.Ops})
		return err
	}
	for range 2 {
		req := &classes.Request{Method: "POST", URL: "http://dobj/increment", Header: http.Header{}}
		resp, err := engine.Call(context.Background(), ref, "card-1", req, state, commit)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.Status, string(resp.Body))
	}
	// Output:
	// 200 {"name":"card-1","value":1}
	// 200 {"name":"card-1","value":2}
}

func ExampleCompile_error() {
	_, err := classes.Compile("Counter", []byte("export class Counter {\n  fetch() { return 1 +; }\n}\n"), classes.JavaScript)
	var ce *classes.CompileError
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Message)
	}
	// Output:
	// 2 Unexpected ";"
}
