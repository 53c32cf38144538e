package classes

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// maxLogBytes bounds one console line in the node's log.
const maxLogBytes = 8 << 10

// natives is the object of Go functions the prelude (js/) builds the
// globals on.
func (vm *vm) natives() *goja.Object {
	return vm.nativeObject(map[string]func(goja.FunctionCall) goja.Value{
		"throwTooLarge":   vm.throwTooLarge,
		"encodeUTF8":      vm.encodeUTF8,
		"decodeUTF8":      vm.decodeUTF8,
		"atob":            vm.atob,
		"btoa":            vm.btoa,
		"parseURL":        vm.parseURL,
		"randomUUID":      vm.randomUUID,
		"randomBytes":     vm.randomBytes,
		"digest":          vm.digest,
		"hmacSign":        vm.hmacSign,
		"timingSafeEqual": vm.timingSafeEqual,
		"bodyLimit":       vm.bodyLimit,
		"tooLarge":        vm.tooLarge,
		"parseMultipart":  vm.parseMultipart,
		"fetch":           vm.fetch,
		"abortFetch":      vm.abortFetch,
		"log":             vm.consoleLog,
		"setTimeout":      vm.setTimeout,
		"clearTimeout":    vm.clearTimeout,
		"monotonicMs":     vm.monotonicMs,
		"regexpTimedOut":  vm.regexpTimedOut,
		"clone":           vm.clone,
		"checkDepth":      vm.checkDepth,
		"checkJSONDepth":  vm.checkJSONDepth,
		"countIn":         vm.countIn,
		"block":           vm.block,
		"waitUntil":       vm.waitUntil,
		"get":             vm.storageGet,
		"getMany":         vm.storageGetMany,
		"put":             vm.storagePut,
		"putMany":         vm.storagePutMany,
		"delete":          vm.storageDelete,
		"deleteMany":      vm.storageDeleteMany,
		"list":            vm.storageList,
		"deleteAll":       vm.storageDeleteAll,
		"getAlarm":        vm.storageGetAlarm,
		"setAlarm":        vm.storageSetAlarm,
		"deleteAlarm":     vm.storageDeleteAlarm,
		"txnBegin":        vm.txnBegin,
		"txnCommit":       vm.txnCommit,
		"txnRollback":     vm.txnRollback,
		"sqlExec":         vm.sqlExec,
		"sqlDatabaseSize": vm.sqlDatabaseSize,
		"requireSQL":      vm.requireSQL,
	})
}

// nativeObject is an object of Go functions, by name, for a script of the
// engine's (the prelude, websocket.js) to wrap.
func (vm *vm) nativeObject(fns map[string]func(goja.FunctionCall) goja.Value) *goja.Object {
	n := vm.rt.NewObject()
	for name, f := range fns {
		if err := n.Set(name, f); err != nil {
			panic(err) // setting a property of a fresh object cannot fail
		}
	}
	return n
}

// ---- strings and bytes ----

// throwTooLarge(kind, name, n) throws the RangeError of a guarded
// built-in: kind "string" (n UTF-16 units) or "array" (n elements, or
// 8-byte units of a buffer).
func (vm *vm) throwTooLarge(fc goja.FunctionCall) goja.Value {
	name, n := fc.Argument(1).String(), fc.Argument(2).ToFloat()
	if fc.Argument(0).String() == "string" {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: %s would build a string of %.0f UTF-16 units, over %d",
			ErrStringTooLarge, name, n, vm.cfg.MaxStringLength))
	}
	vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: %s would allocate %.0f elements, over %d",
		ErrArrayTooLarge, name, n, vm.cfg.MaxArrayLength))
	return nil
}

func (vm *vm) encodeUTF8(fc goja.FunctionCall) goja.Value {
	return vm.rt.ToValue(vm.rt.NewArrayBuffer([]byte(fc.Argument(0).String())))
}

// decodeUTF8(buffer, offset, length) decodes as TextDecoder does by
// default: a leading byte-order mark is dropped, invalid bytes become
// U+FFFD.
func (vm *vm) decodeUTF8(fc goja.FunctionCall) goja.Value {
	ab, ok := fc.Argument(0).Export().(goja.ArrayBuffer)
	if !ok {
		vm.typeError("expected an ArrayBuffer")
	}
	b := ab.Bytes()
	off, n := fc.Argument(1).ToInteger(), fc.Argument(2).ToInteger()
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		vm.throw(vm.hooks.rangeErrorCtor, errors.New("decode: offset and length are outside the buffer"))
	}
	b = b[off : off+n]
	if int(n) > vm.cfg.MaxStringLength {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: decode would build a string of %d bytes, over %d",
			ErrStringTooLarge, n, vm.cfg.MaxStringLength))
	}
	s := strings.TrimPrefix(string(b), "\uFEFF")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return vm.rt.ToValue(s)
}

// btoa is the base64 of a string's code units, null when one is over
// 0xFF (the prelude throws InvalidCharacterError).
func (vm *vm) btoa(fc goja.FunctionCall) goja.Value {
	s := fc.Argument(0).String()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return goja.Null()
		}
		b = append(b, byte(r))
	}
	return vm.rt.ToValue(base64.StdEncoding.EncodeToString(b))
}

// atob is HTML's forgiving-base64 decode, as a string of code units up to
// 0xFF, or null when the text is not base64 (the prelude throws
// InvalidCharacterError): ASCII whitespace is ignored; padding, if any,
// must make the length a multiple of 4.
func (vm *vm) atob(fc goja.FunctionCall) goja.Value {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
			return -1
		}
		return r
	}, fc.Argument(0).String())
	if len(s)%4 == 0 {
		s = strings.TrimSuffix(s, "=")
		s = strings.TrimSuffix(s, "=")
	}
	if len(s)%4 == 1 || strings.ContainsFunc(s, func(r rune) bool { return !isBase64(r) }) {
		return goja.Null()
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return goja.Null()
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return vm.rt.ToValue(string(r))
}

func isBase64(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/'
}

// parseURL(url, base?) resolves url against base and returns its parts as
// URL keeps them, [protocol, username, password, hostname, port, pathname,
// search, hash]; default ports are left out, as WHATWG URL does.
func (vm *vm) parseURL(fc goja.FunctionCall) goja.Value {
	raw := fc.Argument(0).String()
	u, err := url.Parse(raw)
	if err == nil && !goja.IsUndefined(fc.Argument(1)) {
		var base *url.URL
		base, err = url.Parse(fc.Argument(1).String())
		if err == nil {
			if !base.IsAbs() {
				err = errors.New("the base is not absolute")
			} else {
				u = base.ResolveReference(u)
			}
		}
	}
	if err == nil && !u.IsAbs() {
		err = errors.New("it is not absolute")
	}
	if err != nil {
		vm.typeError("invalid URL %q: %v", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if (scheme == "http" || scheme == "ws") && port == "80" || (scheme == "https" || scheme == "wss") && port == "443" {
		port = ""
	}
	path := u.EscapedPath()
	if path == "" && u.Host != "" {
		path = "/"
	}
	if u.Opaque != "" {
		path = u.Opaque
	}
	search := ""
	if u.RawQuery != "" || u.ForceQuery {
		search = "?" + u.RawQuery
	}
	hash := ""
	if u.Fragment != "" {
		hash = "#" + u.EscapedFragment()
	}
	user, pass := "", ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	return vm.rt.NewArray(scheme+":", user, pass, strings.ToLower(u.Hostname()), port, path, search, hash)
}

func (vm *vm) randomUUID(goja.FunctionCall) goja.Value { return vm.rt.ToValue(uuid4()) }

// uuid4 is a random (version 4) UUID.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (vm *vm) randomBytes(fc goja.FunctionCall) goja.Value {
	n := fc.Argument(0).ToInteger()
	if n < 0 || n > 65536 {
		vm.throw(vm.hooks.rangeErrorCtor, errors.New("getRandomValues: at most 65536 bytes"))
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return vm.rt.ToValue(vm.rt.NewArrayBuffer(b))
}

func (vm *vm) consoleLog(fc goja.FunctionCall) goja.Value {
	level := slog.LevelInfo
	switch fc.Argument(0).String() {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg := fc.Argument(1).String()
	if len(msg) > maxLogBytes {
		msg = strings.ToValidUTF8(msg[:maxLogBytes], "") + "…"
	}
	vm.logger().Log(context.Background(), level, msg, "source", "console")
	return goja.Undefined()
}

// ---- timers and the call's promises ----

func (vm *vm) setTimeout(fc goja.FunctionCall) goja.Value {
	c := vm.call
	if c == nil { // module top level while Compile looks at its exports
		return vm.rt.ToValue(0)
	}
	fn, ok := goja.AssertFunction(fc.Argument(0))
	if !ok {
		vm.typeError("setTimeout: the callback must be a function")
	}
	if len(c.timers) >= vm.cfg.MaxTimers {
		vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("setTimeout: more than %d timers pending", vm.cfg.MaxTimers))
	}
	ms := fc.Argument(1).ToFloat()
	if math.IsNaN(ms) || ms < 0 {
		ms = 0
	}
	ms = min(ms, float64(24*time.Hour/time.Millisecond))
	d := time.Duration(ms * float64(time.Millisecond))
	var args []goja.Value
	if a, ok := fc.Argument(2).(*goja.Object); ok {
		for i := range a.Get("length").ToInteger() {
			args = append(args, a.Get(fmt.Sprint(i)))
		}
	}
	c.nextTimer++
	t := &timer{id: c.nextTimer, when: time.Now().Add(d), fn: fn, fnValue: fc.Argument(0), args: args}
	if fc.Argument(3).ToBoolean() { // setInterval
		t.every = max(d, time.Millisecond)
	}
	c.timers = append(c.timers, t)
	return vm.rt.ToValue(c.nextTimer)
}

// monotonicMs is performance.now(): milliseconds since the runtime began.
func (vm *vm) monotonicMs(goja.FunctionCall) goja.Value {
	return vm.rt.ToValue(float64(time.Since(vm.born).Microseconds()) / 1000)
}

func (vm *vm) clearTimeout(fc goja.FunctionCall) goja.Value {
	if c := vm.call; c != nil {
		id := fc.Argument(0).ToInteger()
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t.id == id })
	}
	return goja.Undefined()
}

func (vm *vm) block(fc goja.FunctionCall) goja.Value {
	if p := promiseOf(fc.Argument(0)); p != nil && vm.call != nil {
		vm.call.blocking = append(vm.call.blocking, p)
	}
	return goja.Undefined()
}

func (vm *vm) waitUntil(fc goja.FunctionCall) goja.Value {
	if p := promiseOf(fc.Argument(0)); p != nil && vm.call != nil {
		vm.call.waiting = append(vm.call.waiting, p)
	}
	return goja.Undefined()
}

// clone is structuredClone: the value through its stored encoding.
func (vm *vm) clone(fc goja.FunctionCall) goja.Value {
	raw := vm.encodeValue("structuredClone", fc.Argument(0), vm.cfg.MaxWriteBytes)
	v, err := vm.decode(raw)
	if err != nil {
		vm.throw(vm.hooks.errorCtor, err)
	}
	return v
}

// maxJSONDepth bounds the nesting JSON.stringify accepts.
const maxJSONDepth = 1000

// checkDepth throws a RangeError (ErrTooDeep) when value nests arrays and
// plain objects deeper than maxJSONDepth. It walks what JSON.stringify
// would, so getters on the way run here too. A cycle ends the walk:
// JSON.stringify reports it (a TypeError) without going deep.
func (vm *vm) checkDepth(fc goja.FunctionCall) goja.Value {
	root, ok := fc.Argument(0).(*goja.Object)
	if !ok {
		return goja.Undefined()
	}
	d := depthWalk{vm: vm, onPath: map[*goja.Object]bool{}, checked: map[*goja.Object]int{}}
	d.walk(root, 1)
	return goja.Undefined()
}

// checkJSONDepth throws a RangeError (ErrTooDeep) when JSON text nests
// arrays and objects deeper than maxJSONDepth, before JSON.parse would
// recurse that deep. Brackets within strings do not count; text that is
// not JSON is left for JSON.parse to refuse.
func (vm *vm) checkJSONDepth(fc goja.FunctionCall) goja.Value {
	s := fc.Argument(0).String()
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > maxJSONDepth {
				vm.throw(vm.hooks.rangeErrorCtor, fmt.Errorf("%w: JSON.parse of text nested deeper than %d", ErrTooDeep, maxJSONDepth))
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return goja.Undefined()
}

// countIn(s, p) is how many times p occurs in s, without overlaps, as
// replaceAll replaces them (p is not empty).
func (vm *vm) countIn(fc goja.FunctionCall) goja.Value {
	return vm.rt.ToValue(strings.Count(fc.Argument(0).String(), fc.Argument(1).String()))
}

// depthWalk is checkDepth's walk. Recursion is bounded by maxJSONDepth.
type depthWalk struct {
	vm      *vm
	onPath  map[*goja.Object]bool
	checked map[*goja.Object]int // the least depth a finished walk started o at
}

// walk reports whether it met a cycle.
func (d *depthWalk) walk(o *goja.Object, depth int) bool {
	if depth > maxJSONDepth {
		d.vm.throw(d.vm.hooks.rangeErrorCtor, fmt.Errorf("%w: JSON.stringify of a value nested deeper than %d", ErrTooDeep, maxJSONDepth))
	}
	if d.onPath[o] {
		return true
	}
	if at, ok := d.checked[o]; ok && at >= depth {
		return false // its subtree fit when it sat at least this deep
	}
	d.onPath[o] = true
	child := func(v goja.Value) bool {
		c, ok := v.(*goja.Object)
		return ok && d.walk(c, depth+1)
	}
	switch d.vm.kind(o) {
	case kindArray:
		for i := range o.Get("length").ToInteger() {
			if child(o.Get(strconv.FormatInt(i, 10))) {
				return true
			}
		}
	case kindPlain:
		for _, k := range o.Keys() {
			if child(o.Get(k)) {
				return true
			}
		}
	}
	delete(d.onPath, o)
	d.checked[o] = depth
	return false
}
