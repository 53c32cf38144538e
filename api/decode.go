package api

import (
	"encoding/json"
	"errors"
	"strings"
)

// maxJSONDepth is how deeply encoding/json lets arrays and objects nest
// (its scanner's maxNestingDepth). A deeper value is valid JSON that the
// decoder refuses, so it is reported as too deep, not as invalid.
const maxJSONDepth = 10000

// checkDepth refuses JSON nested deeper than maxJSONDepth, naming what
// (the body or a value) and the limit. It only counts brackets outside
// strings; whether the rest is valid JSON is for the decoder to say.
func checkDepth(b []byte, what string) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxJSONDepth {
				return badRequest("%s is nested too deeply: arrays and objects may nest at most %d levels", what, maxJSONDepth)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// unknownFieldPrefix starts the error encoding/json returns for a field
// the target has not (with DisallowUnknownFields); it has no error type of
// its own, so its text is the only way to name the field.
const unknownFieldPrefix = "json: unknown field "

// decodeError turns a strict decoder's error into a 400 that says what is
// wrong: the unknown field by name, or the field whose type is wrong.
func decodeError(err error) error {
	if name, ok := strings.CutPrefix(err.Error(), unknownFieldPrefix); ok {
		return badRequest("unknown field %s", name)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" && te.Type != nil {
		return badRequest("field %q: a JSON %s where %s is expected", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return badRequest("body is not valid JSON of the expected shape")
}

// jsonKind names a Go kind as the JSON a client would send for it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	default:
		return "a number"
	}
}
