package objects

import (
	"errors"
	"fmt"
)

var (
	// ErrConflict: the op cannot apply to the stored value (not an integer,
	// int64 overflow). Nothing was changed.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request itself is malformed (unknown op, empty key,
	// both start and startAfter). Nothing was changed.
	ErrInvalid = errors.New("invalid")
)

// ConflictError says which key conflicted and why; it matches ErrConflict.
type ConflictError struct {
	Key    string
	Reason string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("key %q: %s", e.Key, e.Reason) }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrTooLarge: the request is over one of the Limits (too many ops, a
// name, key or value too long, an answer that could be too large).
// Nothing was changed.
var ErrTooLarge = errors.New("too large")
