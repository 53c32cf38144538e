package project

import (
	"errors"
	"fmt"
)

// ErrNoConfig: the directory holds none of wrangler.toml, wrangler.json
// and wrangler.jsonc.
var ErrNoConfig = errors.New("no wrangler.toml, wrangler.json or wrangler.jsonc")

// ConfigError is a project that cannot be deployed as it is: File is the
// file at fault (the configuration file, or a source file for a bundling
// error), Line its 1-based line (0 when the format or the fault gives none,
// such as a missing field), Field the configuration field in wrangler's
// dotted notation (durable_objects.bindings[0].class_name; empty for a
// syntax error), Message what is wrong.
type ConfigError struct {
	File    string
	Line    int
	Column  int
	Field   string
	Message string
}

func (e *ConfigError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
		if e.Column > 0 {
			s += fmt.Sprintf(":%d", e.Column)
		}
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Message
}
