package project

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// decodeTOML decodes a wrangler.toml strictly into raw and returns where
// each of its fields sits.
func decodeTOML(file string, data []byte, raw *rawFile) (lines, error) {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(raw); err != nil {
		return nil, tomlError(file, err)
	}
	ln, err := tomlLines(data)
	if err != nil { // the decoder accepted it, so this should not happen
		return nil, &ConfigError{File: file, Message: err.Error()}
	}
	return ln, nil
}

// tomlError turns the decoder's error into a *ConfigError with its
// position and key.
func tomlError(file string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		de := &strict.Errors[0]
		line, col := de.Position()
		key := []string(de.Key())
		msg := "unknown field"
		if len(key) > 0 && slices.Contains(unsupportedFields, key[0]) {
			msg = "not supported by dobj"
			key = key[:1]
		}
		return &ConfigError{File: file, Line: line, Column: col, Field: strings.Join(key, "."), Message: msg}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		return &ConfigError{File: file, Line: line, Column: col, Field: strings.Join(de.Key(), "."), Message: msg}
	}
	return &ConfigError{File: file, Message: err.Error()}
}

// tomlLines maps the pointer of every key, table, array-of-tables element
// and array element in a TOML document to its line.
func tomlLines(data []byte) (lines, error) {
	ln := lines{}
	elements := map[string]int{} // array of tables' pointer -> elements so far
	var p unstable.Parser
	p.Reset(data)
	var table field
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys := tomlKeys(e.Key())
			table = resolveTable(elements, keys[:len(keys)-1]).at(keys[len(keys)-1])
			if e.Kind == unstable.ArrayTable {
				n := elements[table.pointer()]
				elements[table.pointer()] = n + 1
				table = table.at(n)
			}
			ln[table.pointer()] = tomlLine(&p, e)
		case unstable.KeyValue:
			tomlValueLines(&p, ln, table, e)
		}
	}
	return ln, p.Error()
}

// resolveTable is the field of a dotted table name, with the current
// element's index after each array of tables on the way
// ([[migrations.renamed_classes]] is in the last [[migrations]]).
func resolveTable(elements map[string]int, keys []string) field {
	var f field
	for _, k := range keys {
		f = f.at(k)
		if n, ok := elements[f.pointer()]; ok && n > 0 {
			f = f.at(n - 1)
		}
	}
	return f
}

// tomlValueLines records the key-value kv (in table) and what its value
// holds.
func tomlValueLines(p *unstable.Parser, ln lines, table field, kv *unstable.Node) {
	f := table
	for _, k := range tomlKeys(kv.Key()) {
		f = f.at(k)
	}
	ln[f.pointer()] = tomlLine(p, kv)
	v := kv.Value()
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				tomlValueLines(p, ln, f, c)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			el := f.at(i)
			ln[el.pointer()] = tomlLine(p, c)
			if c.Kind == unstable.InlineTable {
				for ct := c.Children(); ct.Next(); {
					tomlValueLines(p, ln, el, ct.Node())
				}
			}
			i++
		}
	}
}

func tomlKeys(it unstable.Iterator) []string {
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Node().Data))
	}
	return keys
}

// tomlLine is the line of a node: its own bytes' or its first key's.
func tomlLine(p *unstable.Parser, n *unstable.Node) int {
	if n.Raw.Length > 0 {
		return p.Shape(n.Raw).Start.Line
	}
	if it := n.Key(); it.Next() && it.Node().Raw.Length > 0 {
		return p.Shape(it.Node().Raw).Start.Line
	}
	return 0
}
