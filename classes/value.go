package classes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// Tags of the values JSON cannot hold (see the package doc). A stored
// object with exactly one key that starts with "$" is a tagged value.
const (
	tagMap    = "$map"    // {"$map":[[key,value],…]}: a Map, in its order
	tagSet    = "$set"    // {"$set":[value,…]}: a Set, in its order
	tagDate   = "$date"   // {"$date":"2026-11-29T12:00:00.000Z"}; ms beyond year 9999; null when invalid
	tagNumber = "$num"    // {"$num":"NaN"|"Infinity"|"-Infinity"}
	tagBigInt = "$bigint" // {"$bigint":"123"}
	tagObject = "$obj"    // {"$obj":{…}}: a plain object that would read as a tag
)

// maxValueDepth bounds the nesting of a stored value (arrays, objects,
// maps): deeper is refused rather than risking the Go stack.
const maxValueDepth = 256

// encoder writes a JavaScript value as canonical compact JSON: object keys
// sorted by bytes, strings escaped as encoding/json escapes them without
// HTML escaping, numbers as JavaScript prints them — the api's canonical
// form, so equal values are equal bytes whichever route wrote them.
type encoder struct {
	vm    *vm
	buf   bytes.Buffer
	max   int            // bytes; over it the encoding stops with errTooLarge
	stack []*goja.Object // objects being encoded, to refuse cycles
}

// errTooLarge stops an encoding as soon as it passes its bound.
var errTooLarge = fmt.Errorf("encoding over its bound")

// encode returns v as stored JSON, or an error wrapping ErrNotSerializable
// or errTooLarge.
func (vm *vm) encode(v goja.Value, max int) ([]byte, error) {
	if v == nil || goja.IsUndefined(v) {
		return nil, fmt.Errorf("%w: undefined", ErrNotSerializable)
	}
	if _, ok := v.(*goja.Object); !ok && goja.IsNumber(v) {
		if n, ok := v.Export().(int64); ok { // the commonest value: no encoder
			return strconv.AppendInt(nil, n, 10), nil
		}
	}
	e := encoder{vm: vm, max: max}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

func (e *encoder) check() error {
	if e.buf.Len() > e.max {
		return errTooLarge
	}
	return nil
}

func (e *encoder) value(v goja.Value, depth int) error {
	if depth > maxValueDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrNotSerializable, maxValueDepth)
	}
	switch {
	case v == nil || goja.IsUndefined(v) || goja.IsNull(v):
		e.buf.WriteString("null") // undefined in an array or a Map, as JSON.stringify
		return nil
	}
	if o, ok := v.(*goja.Object); ok {
		return e.object(o, depth)
	}
	if s, ok := v.(goja.String); ok {
		if s.Length() > e.max { // every UTF-16 unit is at least one byte
			return errTooLarge
		}
		writeString(&e.buf, s.String())
		return e.check()
	}
	if _, ok := v.(*goja.Symbol); ok {
		return fmt.Errorf("%w: a symbol", ErrNotSerializable)
	}
	switch x := v.Export().(type) {
	case bool:
		if x {
			e.buf.WriteString("true")
		} else {
			e.buf.WriteString("false")
		}
	case int64:
		e.buf.Write(strconv.AppendInt(e.buf.AvailableBuffer(), x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			e.tagged(tagNumber, `"NaN"`)
		case math.IsInf(x, 1):
			e.tagged(tagNumber, `"Infinity"`)
		case math.IsInf(x, -1):
			e.tagged(tagNumber, `"-Infinity"`)
		default:
			e.buf.WriteString(v.String()) // JavaScript's own number format is valid JSON
		}
	case *big.Int:
		e.tagged(tagBigInt, strconv.Quote(x.String()))
	default:
		return fmt.Errorf("%w: a %T", ErrNotSerializable, x)
	}
	return e.check()
}

func (e *encoder) tagged(tag, raw string) {
	e.buf.WriteString(`{"`)
	e.buf.WriteString(tag)
	e.buf.WriteString(`":`)
	e.buf.WriteString(raw)
	e.buf.WriteByte('}')
}

func (e *encoder) object(o *goja.Object, depth int) error {
	if slices.Contains(e.stack, o) {
		return fmt.Errorf("%w: a cycle (an object that contains itself)", ErrNotSerializable)
	}
	e.stack = append(e.stack, o)
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	switch e.vm.kind(o) {
	case kindArray:
		return e.array(o, depth)
	case kindDate:
		ms := o.ToFloat()
		if math.IsNaN(ms) {
			e.tagged(tagDate, "null")
			return nil
		}
		t := time.UnixMilli(int64(ms)).UTC()
		if t.Year() < 0 || t.Year() > 9999 { // beyond ISO 8601's four digits: milliseconds
			e.tagged(tagDate, strconv.FormatInt(int64(ms), 10))
			return nil
		}
		e.tagged(tagDate, `"`+t.Format(dateLayout)+`"`)
		return nil
	case kindMap:
		e.buf.WriteString(`{"` + tagMap + `":[`)
		entries, err := e.vm.hooks.mapEntries(goja.Undefined(), o)
		if err != nil {
			return err
		}
		list := entries.ToObject(e.vm.rt)
		n := list.Get("length").ToInteger()
		for i := range n {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			pair := list.Get(strconv.FormatInt(i, 10)).ToObject(e.vm.rt)
			e.buf.WriteByte('[')
			if err := e.value(pair.Get("0"), depth+1); err != nil {
				return err
			}
			e.buf.WriteByte(',')
			if err := e.value(pair.Get("1"), depth+1); err != nil {
				return err
			}
			e.buf.WriteByte(']')
		}
		e.buf.WriteString("]}")
		return e.check()
	case kindSet:
		values, err := e.vm.hooks.setValues(goja.Undefined(), o)
		if err != nil {
			return err
		}
		e.buf.WriteString(`{"` + tagSet + `":`)
		if err := e.array(values.ToObject(e.vm.rt), depth); err != nil {
			return err
		}
		e.buf.WriteByte('}')
		return nil
	case kindPlain:
		return e.plain(o, depth)
	case kindFunction:
		return fmt.Errorf("%w: a function", ErrNotSerializable)
	default:
		return fmt.Errorf("%w: a %s", ErrNotSerializable, o.ClassName())
	}
}

func (e *encoder) array(o *goja.Object, depth int) error {
	e.buf.WriteByte('[')
	n := o.Get("length").ToInteger()
	for i := range n {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		if err := e.value(o.Get(strconv.FormatInt(i, 10)), depth+1); err != nil {
			return err
		}
	}
	e.buf.WriteByte(']')
	return e.check()
}

// plain writes an object's own enumerable string-keyed properties, sorted;
// properties that are undefined are left out, as JSON.stringify does.
func (e *encoder) plain(o *goja.Object, depth int) error {
	keys := o.Keys()
	slices.Sort(keys)
	type prop struct {
		k string
		v goja.Value
	}
	props := make([]prop, 0, len(keys))
	for _, k := range keys {
		v := o.Get(k)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		props = append(props, prop{k, v})
	}
	escape := len(props) == 1 && strings.HasPrefix(props[0].k, "$")
	if escape {
		e.buf.WriteString(`{"` + tagObject + `":`)
	}
	e.buf.WriteByte('{')
	for i, p := range props {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		writeString(&e.buf, p.k)
		e.buf.WriteByte(':')
		if err := e.value(p.v, depth+1); err != nil {
			return err
		}
	}
	e.buf.WriteByte('}')
	if escape {
		e.buf.WriteByte('}')
	}
	return e.check()
}

// dateLayout is Date.prototype.toISOString's format.
const dateLayout = "2006-01-02T15:04:05.000Z"

// writeString writes s as a JSON string the way encoding/json does with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are
// escaped (so the JSON is also valid JavaScript).
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch b {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(b)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[b>>4])
				buf.WriteByte(hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// decode turns stored JSON back into a JavaScript value, reviving tagged
// values. JSON.parse does the work; only values that may hold a tag are
// walked again.
func (vm *vm) decode(raw json.RawMessage) (goja.Value, error) {
	if v, ok := vm.decodeScalar(raw); ok {
		return v, nil
	}
	v, err := vm.hooks.jsonParse(goja.Undefined(), vm.rt.ToValue(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("stored value is not JSON: %w", err)
	}
	if !bytes.Contains(raw, []byte(`"$`)) {
		return v, nil
	}
	return vm.revive(v, 0)
}

// decodeScalar decodes the commonest stored values — numbers, booleans,
// null, strings without escapes — without a call into JSON.parse.
func (vm *vm) decodeScalar(raw json.RawMessage) (goja.Value, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch c := raw[0]; {
	case c == '-' || c >= '0' && c <= '9':
		if bytes.HasPrefix(raw, []byte("-0")) {
			break // -0 and -0.5: JSON.parse keeps the sign of zero
		}
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil && n >= -1<<53 && n <= 1<<53 {
			return vm.rt.ToValue(n), true
		}
		// Out of range is JavaScript's Infinity or 0, as Number("1e400").
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return vm.rt.ToValue(f), true
		}
	case c == '"' && len(raw) >= 2 && raw[len(raw)-1] == '"':
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && bytes.IndexByte(body, '"') < 0 && utf8.Valid(body) {
			return vm.rt.ToValue(string(body)), true
		}
	case string(raw) == "true":
		return vm.rt.ToValue(true), true
	case string(raw) == "false":
		return vm.rt.ToValue(false), true
	case string(raw) == "null":
		return goja.Null(), true
	}
	return nil, false
}

// revive replaces tagged objects within v (fresh from JSON.parse) by the
// values they stand for.
func (vm *vm) revive(v goja.Value, depth int) (goja.Value, error) {
	o, ok := v.(*goja.Object)
	if !ok || depth > maxValueDepth+1 {
		return v, nil
	}
	if o.ClassName() == "Array" {
		n := o.Get("length").ToInteger()
		for i := range n {
			k := strconv.FormatInt(i, 10)
			r, err := vm.revive(o.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			if err := o.Set(k, r); err != nil {
				return nil, err
			}
		}
		return o, nil
	}
	keys := o.Keys()
	if len(keys) == 1 && strings.HasPrefix(keys[0], "$") {
		inner := o.Get(keys[0])
		switch keys[0] {
		case tagMap, tagSet:
			items, err := vm.revive(inner, depth+1)
			if err != nil {
				return nil, err
			}
			ctor := vm.hooks.mapCtor
			if keys[0] == tagSet {
				ctor = vm.hooks.setCtor
			}
			return vm.rt.New(ctor, items)
		case tagDate:
			ms := math.NaN()
			switch x := inner.Export().(type) {
			case string:
				if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
					ms = float64(t.UnixMilli())
				}
			case int64:
				ms = float64(x)
			case float64:
				ms = x
			}
			return vm.rt.New(vm.hooks.dateCtor, vm.rt.ToValue(ms))
		case tagNumber:
			switch inner.String() {
			case "NaN":
				return vm.rt.ToValue(math.NaN()), nil
			case "Infinity":
				return vm.rt.ToValue(math.Inf(1)), nil
			case "-Infinity":
				return vm.rt.ToValue(math.Inf(-1)), nil
			}
		case tagBigInt:
			if n, ok := new(big.Int).SetString(inner.String(), 10); ok {
				return vm.rt.ToValue(n), nil
			}
		case tagObject:
			if io, ok := inner.(*goja.Object); ok {
				if err := vm.reviveProps(io, depth); err != nil {
					return nil, err
				}
				return io, nil
			}
		}
	}
	if err := vm.reviveProps(o, depth); err != nil {
		return nil, err
	}
	return o, nil
}

func (vm *vm) reviveProps(o *goja.Object, depth int) error {
	for _, k := range o.Keys() {
		r, err := vm.revive(o.Get(k), depth+1)
		if err != nil {
			return err
		}
		if err := o.Set(k, r); err != nil {
			return err
		}
	}
	return nil
}

// proxyType is what a goja Proxy exports as.
var proxyType = reflect.TypeFor[goja.Proxy]()

// objectKind is what structured clone sees in an object.
type objectKind int

const (
	kindOther objectKind = iota
	kindPlain
	kindArray
	kindFunction
	kindDate
	kindMap
	kindSet
)

// kind classifies o by its class and, for ordinary objects, by the
// prototypes on its chain (a Map subclass is a Map; a class instance is a
// plain object, as structured clone treats it).
func (vm *vm) kind(o *goja.Object) objectKind {
	switch o.ClassName() {
	case "Array":
		return kindArray
	case "Function":
		return kindFunction
	case "Date":
		return kindDate
	case "Object":
	default:
		return kindOther
	}
	if o.ExportType() == proxyType { // structured clone refuses proxies; walking one runs its traps
		return kindOther
	}
	for p := o.Prototype(); p != nil; p = p.Prototype() {
		switch p {
		case vm.hooks.objectProto:
			return kindPlain
		case vm.hooks.mapProto:
			return kindMap
		case vm.hooks.setProto:
			return kindSet
		}
		if slices.Contains(vm.hooks.refused, p) {
			return kindOther
		}
	}
	return kindPlain // Object.create(null)
}
