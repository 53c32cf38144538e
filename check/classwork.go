package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/objects"
)

// WorkloadClass runs the register and counter workloads through a
// deployed object class (issue 14) instead of the built-in routes: every
// read, write, compare-and-set and increment is a call of checkClass's
// fetch, so the history checks that calls are linearizable, keep their
// Idempotency-Keys, and answer only once their writes are committed. It
// is not part of "all".
const WorkloadClass = "class"

// checkClassName is the class the class workload deploys.
const checkClassName = "DobjCheckKV"

// checkClassSource implements the workloads' operations on an object's
// storage: a compare-and-set compares JSON by its serialisation, as the
// built-in transaction compares canonical JSON.
const checkClassSource = `
export class DobjCheckKV {
  constructor(ctx, env) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key");
    const s = this.ctx.storage;
    switch (url.pathname) {
    case "/get": {
      const v = await s.get(key);
      return Response.json(v === undefined ? {found: false} : {found: true, value: v});
    }
    case "/put":
      await s.put(key, await request.json());
      return Response.json({ok: true});
    case "/cas": {
      const {old, value} = await request.json();
      const cur = await s.get(key);
      const same = old === null ? cur === undefined : cur !== undefined && JSON.stringify(cur) === JSON.stringify(old);
      if (!same) return Response.json({succeeded: false});
      await s.put(key, value);
      return Response.json({succeeded: true});
    }
    case "/incr": {
      const v = ((await s.get(key)) ?? 0) + 1;
      await s.put(key, v);
      return Response.json({value: v});
    }
    case "/count":
      return Response.json({value: (await s.get(key)) ?? 0});
    }
    return new Response("no such route", {status: 404});
  }
}
`

// deployedWorkloads run register and counter through deployed code;
// one run takes at most one of them.
var deployedWorkloads = []string{WorkloadClass, WorkloadWorker, WorkloadSQL}

// expandWorkloads turns "class", "worker" or "sql" into the register and
// counter workloads run through the class, the Worker or the SQL class,
// and returns the operations they use (builtinOps otherwise).
func expandWorkloads(kinds []string) (out []string, ops kvOps) {
	switch {
	case slices.Contains(kinds, WorkloadClass):
		ops = classOps{class: checkClassName}
	case slices.Contains(kinds, WorkloadWorker):
		ops = newWorkerOps()
	case slices.Contains(kinds, WorkloadSQL):
		ops = classOps{script: checkSQLScript, class: checkSQLClass}
	default:
		return kinds, builtinOps{}
	}
	for _, k := range kinds {
		if !slices.Contains(deployedWorkloads, k) && k != WorkloadRegister && k != WorkloadCounter {
			out = append(out, k)
		}
	}
	return append(out, WorkloadRegister, WorkloadCounter), ops
}

// deployCheckClass deploys the class through the first node that takes it.
func deployCheckClass(ctx context.Context, nodes []*node) error {
	var last error
	i := 0
	if poll(ctx, startWait, func(ctx context.Context) bool {
		n := nodes[i%len(nodes)]
		i++
		_, last = n.c.Deploy(ctx, checkClassName, []byte(checkClassSource), "js")
		return last == nil
	}) {
		return nil
	}
	return fmt.Errorf("deploy the check class: %w", last)
}

// kvOps are the operations of the register and counter workloads.
type kvOps interface {
	get(ctx context.Context, n *node, object, key string) (json.RawMessage, bool, error)
	put(ctx context.Context, n *node, object, key string, value json.RawMessage) error
	// cas puts value when key holds old ("" = absent).
	cas(ctx context.Context, n *node, object, key, old, value string) (bool, error)
	incr(ctx context.Context, n *node, object, key, idemKey string) (int64, error)
	count(ctx context.Context, n *node, object, key string) (int64, error)
}

// builtinOps use the built-in storage, transaction and counter routes.
type builtinOps struct{}

func (builtinOps) get(ctx context.Context, n *node, object, key string) (json.RawMessage, bool, error) {
	return n.c.Get(ctx, object, key, client.ReadOptions{})
}

func (builtinOps) put(ctx context.Context, n *node, object, key string, value json.RawMessage) error {
	return n.c.Put(ctx, object, key, value, client.WriteOptions{})
}

func (builtinOps) cas(ctx context.Context, n *node, object, key, old, value string) (bool, error) {
	cmp := objects.Compare{Key: key, Op: objects.CmpMissing}
	if old != "" {
		cmp = objects.Compare{Key: key, Op: objects.CmpEqual, Value: json.RawMessage(old)}
	}
	res, err := n.c.Txn(ctx, object, objects.Txn{
		Compare: []objects.Compare{cmp},
		Success: []objects.Op{{Op: objects.OpPut, Key: key, Value: json.RawMessage(value)}},
	}, client.WriteOptions{})
	return res.Succeeded, err
}

func (builtinOps) incr(ctx context.Context, n *node, object, key, idemKey string) (int64, error) {
	return n.c.Increment(ctx, object, 1, client.WriteOptions{Key: key, IdempotencyKey: idemKey})
}

func (builtinOps) count(ctx context.Context, n *node, object, key string) (int64, error) {
	return n.c.Counter(ctx, object, client.ReadOptions{Key: key})
}

// classOps call checkClassSource's routes, or, with a script, the same
// routes of that script's class (sqlapp's CheckSQL) through the operator
// route /_scripts/<script>/objects/<class>/<object>/<route>.
type classOps struct{ script, class string }

// call runs one fetch and decodes its JSON answer; an answer other than
// 200 from the class is a definite failure (nothing it wrote committed).
func (o classOps) call(ctx context.Context, n *node, object, method, route, key string, body any, idemKey string, out any) error {
	r := client.CallRequest{Method: method, Path: route + "?key=" + url.QueryEscape(key), IdempotencyKey: idemKey}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r.Body = b
	}
	var resp *client.Response
	var err error
	if o.script != "" {
		resp, err = n.c.ScriptCall(ctx, o.script, o.class, object, r)
	} else {
		resp, err = n.c.Call(ctx, o.class, object, r)
	}
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return &client.Error{Status: resp.Status, Title: "class answered " + http.StatusText(resp.Status)}
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return &client.Error{Status: http.StatusInternalServerError, Title: "class answer is not JSON: " + err.Error()}
	}
	return nil
}

func (o classOps) get(ctx context.Context, n *node, object, key string) (json.RawMessage, bool, error) {
	var out struct {
		Found bool            `json:"found"`
		Value json.RawMessage `json:"value"`
	}
	err := o.call(ctx, n, object, http.MethodGet, "get", key, nil, "", &out)
	return out.Value, out.Found, err
}

func (o classOps) put(ctx context.Context, n *node, object, key string, value json.RawMessage) error {
	var out struct{}
	return o.call(ctx, n, object, http.MethodPut, "put", key, value, "", &out)
}

func (o classOps) cas(ctx context.Context, n *node, object, key, old, value string) (bool, error) {
	in := struct {
		Old   json.RawMessage `json:"old"`
		Value json.RawMessage `json:"value"`
	}{Old: json.RawMessage("null"), Value: json.RawMessage(value)}
	if old != "" {
		in.Old = json.RawMessage(old)
	}
	var out struct {
		Succeeded bool `json:"succeeded"`
	}
	err := o.call(ctx, n, object, http.MethodPost, "cas", key, in, "", &out)
	return out.Succeeded, err
}

func (o classOps) incr(ctx context.Context, n *node, object, key, idemKey string) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := o.call(ctx, n, object, http.MethodPost, "incr", key, nil, idemKey, &out)
	return out.Value, err
}

func (o classOps) count(ctx context.Context, n *node, object, key string) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := o.call(ctx, n, object, http.MethodGet, "count", key, nil, "", &out)
	return out.Value, err
}
