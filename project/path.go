package project

import (
	"strconv"
	"strings"
)

// field is where a value sits in a configuration: member names and array
// indices from the top, such as durable_objects, bindings, 0, class_name.
type field []any

// at is f extended by one member name or index (never sharing f's array).
func (f field) at(k any) field {
	return append(f[:len(f):len(f)], k)
}

// String is the field in wrangler's notation: durable_objects.bindings[0].name.
func (f field) String() string {
	var b strings.Builder
	for _, k := range f {
		switch k := k.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		}
	}
	return b.String()
}

// pointer is the field as a JSON pointer (RFC 6901): /durable_objects/bindings/0/name.
func (f field) pointer() string {
	var b strings.Builder
	for _, k := range f {
		b.WriteByte('/')
		switch k := k.(type) {
		case int:
			b.WriteString(strconv.Itoa(k))
		case string:
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
		}
	}
	return b.String()
}

// lines maps a field's pointer to the line that defines it in the
// configuration file; each format builds its own.
type lines map[string]int

// of is the line of f, or of its nearest enclosing field that has one (so
// a missing member points at the table or object that lacks it); 0 when
// none has.
func (l lines) of(f field) int {
	for n := len(f); n >= 0; n-- {
		if line, ok := l[f[:n].pointer()]; ok && (n > 0 || line > 0) {
			return line
		}
	}
	return 0
}
