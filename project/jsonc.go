package project

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/tailscale/hujson"
)

// decodeJSONC decodes a wrangler.json or wrangler.jsonc strictly into raw
// and returns where each of its fields sits. Both may hold comments and
// trailing commas, as wrangler allows: hujson blanks them out, keeping
// every byte offset, and the JSON decoder's errors carry the offset and
// the JSON pointer of the fault.
func decodeJSONC(file string, data []byte, raw *rawFile) (lines, error) {
	v, err := hujson.Parse(data)
	if err != nil {
		return nil, hujsonError(file, err)
	}
	ln := lines{}
	jsonLines(data, ln, nil, &v)
	v.Standardize()
	err = json.Unmarshal(v.Pack(), raw, json.RejectUnknownMembers(true))
	if err != nil {
		return nil, jsonError(file, data, ln, err)
	}
	return ln, nil
}

// jsonLines records the line of v (at f) and of everything inside it.
func jsonLines(data []byte, ln lines, f field, v *hujson.Value) {
	switch c := v.Value.(type) {
	case *hujson.Object:
		for i := range c.Members {
			m := &c.Members[i]
			name, ok := m.Name.Value.(hujson.Literal)
			if !ok {
				continue
			}
			mf := f.at(name.String())
			if _, dup := ln[mf.pointer()]; !dup { // the decoder refuses duplicates
				ln[mf.pointer()] = lineAt(data, m.Name.StartOffset)
			}
			jsonLines(data, ln, mf, &m.Value)
		}
	case *hujson.Array:
		for i := range c.Elements {
			ef := f.at(i)
			ln[ef.pointer()] = lineAt(data, c.Elements[i].StartOffset)
			jsonLines(data, ln, ef, &c.Elements[i])
		}
	}
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}

var hujsonPosition = regexp.MustCompile(`^hujson: line (\d+), column (\d+): `)

// hujsonError is a syntax error of hujson's as a *ConfigError.
func hujsonError(file string, err error) error {
	msg := err.Error()
	ce := &ConfigError{File: file, Message: msg}
	if m := hujsonPosition.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Column, _ = strconv.Atoi(m[2])
		ce.Message = msg[len(m[0]):]
	}
	return ce
}

// jsonError is a decoding error as a *ConfigError.
func jsonError(file string, data []byte, ln lines, err error) error {
	var (
		ptr       jsontext.Pointer
		off       int64
		msg       = err.Error()
		syntactic bool
	)
	var se *json.SemanticError
	var ye *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		ptr, off = se.JSONPointer, se.ByteOffset
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			msg = "unknown field"
		case se.GoType != nil && se.JSONKind != 0:
			msg = "cannot be " + kindName(se.JSONKind) + " (want " + goTypeName(se.GoType.String()) + ")"
		}
	case errors.As(err, &ye):
		ptr, off, syntactic = ye.JSONPointer, ye.ByteOffset, true
		if ye.Err != nil {
			msg = ye.Err.Error()
		}
	}
	f := fieldOf(string(ptr))
	line := ln.of(f)
	// A syntactic error (a duplicate name) is at its offset; a semantic
	// one at the field it is about, when the file has that field.
	if _, exact := ln[f.pointer()]; syntactic || !exact || line == 0 {
		line = lineAt(data, int(off))
	}
	if len(f) > 0 && slices.Contains(unsupportedFields, f[0].(string)) {
		f, msg = f[:1], "not supported by dobj"
	}
	return &ConfigError{File: file, Line: line, Field: f.String(), Message: msg}
}

// fieldOf is the field a JSON pointer names (numeric tokens as indices).
func fieldOf(ptr string) field {
	var f field
	if ptr == "" {
		return f
	}
	r := strings.NewReplacer("~1", "/", "~0", "~")
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if n, err := strconv.Atoi(tok); err == nil && n >= 0 && len(f) > 0 {
			f = f.at(n)
		} else {
			f = f.at(r.Replace(tok))
		}
	}
	return f
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "this kind of value"
}

// goTypeName says what Go type a field wants in configuration terms.
func goTypeName(t string) string {
	switch {
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map[") || strings.Contains(t, "struct"), strings.HasPrefix(t, "project."):
		return "an object"
	case t == "bool":
		return "a boolean"
	}
	return t
}
