package check

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/project"
)

// WorkloadWorker runs the register and counter workloads through a
// deployed Workers project (issue 20): every operation is a request to a
// node's Worker listener, whose Worker calls the CheckKV class over RPC
// (workerapp/), SQLite-backed, its pairs in the object's database. The history checks that a Worker's RPCs are
// linearizable, answer only once committed, and that an increment
// retried with the same Idempotency-Key counts once: no Idempotency-Key
// crosses a Worker into an RPC, so the Worker passes the header to the
// class as an argument and the class keeps the first answer beside the
// count, in the same write. It is not part of "all".
const WorkloadWorker = "worker"

// workerPortOffset places node i's Worker listener at base+workerPortOffset+i:
// inside check's HTTP range, apart from the HTTP ports base+1..base+9.
const workerPortOffset = 50

//go:embed workerapp
var workerApp embed.FS

// deployCheckWorker writes workerapp into dir, bundles it as dobj deploy
// does and uploads it through the first node that takes it.
func deployCheckWorker(ctx context.Context, nodes []*node, dir string) error {
	return deployProject(ctx, nodes, workerApp, "workerapp", dir)
}

// deployProject writes the project at root of fsys into dir, bundles it
// as dobj deploy does and uploads it through the first node that takes
// it.
func deployProject(ctx context.Context, nodes []*node, fsys fs.FS, root, dir string) error {
	sub, err := fs.Sub(fsys, root)
	if err == nil {
		err = os.CopyFS(dir, sub)
	}
	if err != nil {
		return fmt.Errorf("write the check's project %s: %w", root, err)
	}
	cfg, err := project.Load(dir, time.Now())
	if err != nil {
		return err
	}
	script, err := project.Bundle(cfg, project.BundleOptions{})
	if err != nil {
		return err
	}
	meta, err := cfg.Metadata()
	if err != nil {
		return err
	}
	modules := []client.ScriptModule{{Name: meta.MainModule, Content: script.Code}}
	var last error
	i := 0
	if poll(ctx, startWait, func(ctx context.Context) bool {
		n := nodes[i%len(nodes)]
		i++
		_, last = n.c.DeployScript(ctx, cfg.Name, meta, modules)
		return last == nil
	}) {
		return nil
	}
	return fmt.Errorf("deploy the check's project %s: %w", root, last)
}

// workerOps send the workloads' operations to the nodes' Worker
// listeners, as workerapp's routes.
type workerOps struct{ hc *http.Client }

func newWorkerOps() workerOps {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return workerOps{hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// errNotSent is a transport error of a request that was never written: a
// definite failure.
type errNotSent struct{ err error }

func (e *errNotSent) Error() string { return e.err.Error() }
func (e *errNotSent) Unwrap() error { return e.err }

// call sends one request to n's Worker and decodes its JSON answer. A
// 500 (the Worker threw) is an unknown outcome, as a 504 is (classify
// takes any error but a *client.Error other than 504 and errNotSent as
// unknown): what it committed through the object before it threw stays
// committed. A 503 and a 4xx are definite failures.
func (o workerOps) call(ctx context.Context, n *node, method, object, op, key string, body any, idemKey string, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := n.workerURL + "/" + url.PathEscape(object) + "/" + op + "?key=" + url.QueryEscape(key)
	var wrote atomic.Bool
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}), method, u, rd)
	if err != nil {
		return err
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		if !wrote.Load() {
			return &errNotSent{err}
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return err
	case resp.StatusCode == http.StatusInternalServerError:
		return fmt.Errorf("the Worker threw (outcome unknown): %s", strings.TrimSpace(string(data)))
	case resp.StatusCode != http.StatusOK:
		return &client.Error{Status: resp.StatusCode, Title: "the Worker answered " + http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(data))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the Worker's answer is not JSON (outcome unknown): %w", err)
	}
	return nil
}

func (o workerOps) get(ctx context.Context, n *node, object, key string) (json.RawMessage, bool, error) {
	var out struct {
		Found bool            `json:"found"`
		Value json.RawMessage `json:"value"`
	}
	err := o.call(ctx, n, http.MethodGet, object, "read", key, nil, "", &out)
	return out.Value, out.Found, err
}

func (o workerOps) put(ctx context.Context, n *node, object, key string, value json.RawMessage) error {
	var out struct{}
	return o.call(ctx, n, http.MethodPost, object, "write", key, value, "", &out)
}

func (o workerOps) cas(ctx context.Context, n *node, object, key, old, value string) (bool, error) {
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
	err := o.call(ctx, n, http.MethodPost, object, "cas", key, in, "", &out)
	return out.Succeeded, err
}

func (o workerOps) incr(ctx context.Context, n *node, object, key, idemKey string) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := o.call(ctx, n, http.MethodPost, object, "increment", key, nil, idemKey, &out)
	return out.Value, err
}

func (o workerOps) count(ctx context.Context, n *node, object, key string) (int64, error) {
	var out struct {
		Value int64 `json:"value"`
	}
	err := o.call(ctx, n, http.MethodGet, object, "count", key, nil, "", &out)
	return out.Value, err
}

// notSent reports whether err is a request the Worker never got.
func notSent(err error) bool {
	var ns *errNotSent
	return errors.As(err, &ns)
}
