package bench

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Target names, for Options.Target and --target.
const (
	TargetDobj = "dobj"
	TargetEtcd = "etcd"
	// TargetApp is the seed's counter application (examples/hono-counter)
	// served by any Workers runtime, such as workerd (bench/workerd.sh):
	// worker_increment is its POST /<name>/increment at the URLs.
	// Nothing is deployed or deleted: the runtime serves the application
	// already, and its counters have no delete route.
	TargetApp = "app"
)

// target sends one op of a kind to one object of the service under test.
// It returns nil on a 2xx answer, a *StatusError for any other answer, or
// the transport error.
type target interface {
	send(hc *httpClient, base string, op Op, object int, seq uint64) error
	// remove deletes object with everything it holds; removing one that
	// holds nothing succeeds.
	remove(hc *httpClient, base string, object int) error
}

// DefaultPrefix starts object names when Options.Prefix is empty.
const DefaultPrefix = "bench-"

// newTarget makes o.Target's target over objects o.Prefix0 …
// o.Prefix(o.Objects-1); o.Prefix is not empty (Options.setDefaults).
func newTarget(o Options) (target, error) {
	switch o.Target {
	case TargetDobj, "":
		t := newDobjTarget(o.Objects, o.Prefix)
		t.rpcPath = benchRPCPath(o.WorkerStorage)
		return t, nil
	case TargetEtcd:
		return newEtcdTarget(o.Objects, o.Prefix), nil
	case TargetRqlite:
		return rqliteTarget{}, nil
	case TargetApp:
		return newAppTarget(o.Objects, o.Prefix), nil
	}
	return nil, fmt.Errorf("unknown target %q (want %s, %s, %s or %s)", o.Target, TargetDobj, TargetEtcd, TargetRqlite, TargetApp)
}

// StatusError is a non-2xx answer.
type StatusError struct{ Status int }

func (e *StatusError) Error() string { return "HTTP " + strconv.Itoa(e.Status) }

// errorClass names an op's failure for the errors-by-status count: the
// HTTP status, "timeout", or "transport".
func errorClass(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return strconv.Itoa(se.Status)
	}
	var te interface{ Timeout() bool } // net.Error's, and fasthttp.ErrTimeout's
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "transport"
}

// httpClient sends one request and reads the whole answer. It is
// fasthttp's client rather than net/http's: the load generator shares the
// machine's cores with the servers under test, and net/http's client
// spends about twice the CPU a request (a reader and a writer goroutine
// per connection), which it takes from them.
type httpClient struct {
	c       *fasthttp.Client
	timeout time.Duration
	auth    string // the Authorization header's value, or ""
}

// newHTTPClient keeps up to clients connections a host; token, when set,
// goes on every request as a bearer token, and tc is the TLS
// configuration of https URLs.
func newHTTPClient(clients int, timeout time.Duration, token string, tc *tls.Config) *httpClient {
	h := &httpClient{
		c: &fasthttp.Client{
			MaxConnsPerHost:           clients,
			MaxIdleConnDuration:       90 * time.Second,
			MaxIdemponentCallAttempts: 1, // a failure is counted, never retried behind our back
			ReadTimeout:               timeout,
			WriteTimeout:              timeout,
			TLSConfig:                 tc,
		},
		timeout: timeout,
	}
	if token != "" {
		h.auth = "Bearer " + token
	}
	return h
}

// do sends method url with body (JSON, when not nil); nil on a 2xx answer.
func (h *httpClient) do(method, url string, body []byte) error {
	return h.doCheck(method, url, body, nil)
}

// doCheck is do, with a 2xx answer's body then judged by check (when not
// nil), for a service that answers 200 to a statement that failed.
func (h *httpClient) doCheck(method, url string, body []byte, check func(answer []byte) error) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := h.c.DoTimeout(req, resp, h.timeout); err != nil {
		return err
	}
	if code := resp.StatusCode(); code/100 != 2 {
		return &StatusError{Status: code}
	}
	if check != nil {
		return check(resp.Body())
	}
	return nil
}

func (h *httpClient) close() { h.c.CloseIdleConnections() }

// dobjTarget speaks dobj's HTTP API (the README's counters, storage and
// transactions).
type dobjTarget struct {
	paths   []string // "/<escaped object name>"
	rpcPath string   // where rpc_increment calls the Counters (benchRPCPath)
}

// txnBody is a compare-then-ops transaction on a counter: increment it
// when it exists (and read it back), create it otherwise.
const txnBody = `{"compare":[{"key":"value","op":"exists"}],` +
	`"success":[{"op":"increment","key":"value","by":1},{"op":"get","key":"value"}],` +
	`"failure":[{"op":"put","key":"value","value":1}]}`

// rpcIncrementArgs are rpc_increment's arguments: increment(1), as the
// Worker calls it. Its call asks for ?consistency=stale: the node then
// finds the script's class in its own copy of the registry, as a
// Worker's stub does, instead of first asking the leader for a read
// index, which on a follower waits for the leader's next AppendEntries
// to learn that the last write committed (Raft's CommitTimeout, 50 ms
// and more while writes are few). The increment itself runs on the
// leader either way.
var rpcIncrementArgs = []byte("[1]")

func newDobjTarget(objects int, prefix string) *dobjTarget {
	t := &dobjTarget{paths: make([]string, objects)}
	for i := range t.paths {
		t.paths[i] = "/" + url.PathEscape(objectName(prefix, i))
	}
	return t
}

// remove deletes every key of the object (DELETE /<name>/storage).
func (t *dobjTarget) remove(hc *httpClient, base string, object int) error {
	return hc.do(http.MethodDelete, base+t.paths[object]+"/storage", nil)
}

func (t *dobjTarget) send(hc *httpClient, base string, op Op, object int, seq uint64) error {
	p := base + t.paths[object]
	switch op {
	case OpIncrement:
		return hc.do(http.MethodPost, p+"/increment", nil)
	case OpRead:
		return hc.do(http.MethodGet, p, nil)
	case OpStaleRead:
		return hc.do(http.MethodGet, p+"?consistency=stale", nil)
	case OpPut:
		return hc.do(http.MethodPut, p+"/storage/"+storageKey(seq), valueBody(seq))
	case OpTxn:
		return hc.do(http.MethodPost, p+"/transaction", []byte(txnBody))
	case OpClassIncrement:
		return hc.do(http.MethodPost, base+"/do/"+benchClassName+t.paths[object]+"/increment", nil)
	case OpWorkerIncrement:
		return hc.do(http.MethodPost, base+t.paths[object]+"/increment", nil)
	case OpRPCIncrement:
		return hc.do(http.MethodPost, base+t.rpcPath+t.paths[object]+"/rpc/increment?consistency=stale", rpcIncrementArgs)
	case OpSQLIncrement:
		return hc.do(http.MethodPost, base+benchSQLPath+t.paths[object]+"/increment", nil)
	case OpSQLFill:
		return hc.do(http.MethodPost, base+benchSQLPath+t.paths[object]+"/fill?kb=256", nil)
	}
	return fmt.Errorf("dobj target: unknown op %v", op)
}

// appTarget speaks the seed's counter application's routes.
type appTarget struct {
	paths []string // "/<escaped object name>"
}

func newAppTarget(objects int, prefix string) *appTarget {
	return &appTarget{paths: newDobjTarget(objects, prefix).paths}
}

func (t *appTarget) send(hc *httpClient, base string, op Op, object int, _ uint64) error {
	if op != OpWorkerIncrement {
		return fmt.Errorf("app target: %v is not an op of the application", op)
	}
	return hc.do(http.MethodPost, base+t.paths[object]+"/increment", nil)
}

// remove is refused: the application has no route that deletes a
// counter.
func (t *appTarget) remove(*httpClient, string, int) error {
	return errors.New("app target: the application cannot delete its counters")
}

// etcdTarget speaks etcd v3's HTTP/JSON gateway: keys and values are
// base64 in the JSON bodies. Increment and put are both plain puts (etcd
// has no counter), read is a range (linearizable by default), stale read a
// serializable range, txn a compare-on-version txn of puts.
type etcdTarget struct {
	prefix string
	keys   []string // base64 of "bench/<object name>"
}

func newEtcdTarget(objects int, prefix string) *etcdTarget {
	t := &etcdTarget{prefix: prefix, keys: make([]string, objects)}
	for i := range t.keys {
		t.keys[i] = b64("bench/" + objectName(prefix, i))
	}
	return t
}

// remove deletes the object's key and its puts' keys ("bench/<name>/k…").
func (t *etcdTarget) remove(hc *httpClient, base string, object int) error {
	name := "bench/" + objectName(t.prefix, object)
	if err := hc.do(http.MethodPost, base+"/v3/kv/deleterange", []byte(`{"key":"`+t.keys[object]+`"}`)); err != nil {
		return err
	}
	// [name/, name0) is every key under name/: '0' follows '/'.
	return hc.do(http.MethodPost, base+"/v3/kv/deleterange", []byte(`{"key":"`+b64(name+"/")+`","range_end":"`+b64(name+"0")+`"}`))
}

func (t *etcdTarget) send(hc *httpClient, base string, op Op, object int, seq uint64) error {
	k := t.keys[object]
	v := base64.StdEncoding.EncodeToString(valueBody(seq))
	var path, body string
	switch op {
	case OpIncrement:
		path, body = "/v3/kv/put", `{"key":"`+k+`","value":"`+v+`"}`
	case OpRead:
		path, body = "/v3/kv/range", `{"key":"`+k+`"}`
	case OpStaleRead:
		path, body = "/v3/kv/range", `{"key":"`+k+`","serializable":true}`
	case OpPut:
		path, body = "/v3/kv/put", `{"key":"`+b64("bench/"+objectName(t.prefix, object)+"/"+storageKey(seq))+`","value":"`+v+`"}`
	case OpTxn:
		put := `{"request_put":{"key":"` + k + `","value":"` + v + `"}}`
		path, body = "/v3/kv/txn", `{"compare":[{"key":"`+k+`","target":"VERSION","result":"GREATER","version":"0"}],`+
			`"success":[`+put+`],"failure":[`+put+`]}`
	default:
		return fmt.Errorf("etcd target: unknown op %v", op)
	}
	return hc.do(http.MethodPost, base+path, []byte(body))
}

func objectName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// storageKey spreads puts over 16 keys per object.
func storageKey(seq uint64) string { return "k" + strconv.FormatUint(seq%16, 10) }

func valueBody(seq uint64) []byte { return []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `}`) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
