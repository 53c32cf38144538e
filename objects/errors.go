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

// Codes of domain errors where they cross the wire: in the idempotency
// table (log entries' remembered outcomes, snapshots) and in a leader's
// answer to a forwarded write. The values are part of those formats and
// never change; other packages number their own codes after CodeInvalid.
const (
	CodeOK       uint8 = 0
	CodeConflict uint8 = 1
	CodeInvalid  uint8 = 2
)

// EncodeError splits a domain error into its code, the conflicting key
// and the message; ok is false when err is neither nil nor a domain error.
func EncodeError(err error) (code uint8, key, msg string, ok bool) {
	var ce *ConflictError
	switch {
	case err == nil:
		return CodeOK, "", "", true
	case errors.As(err, &ce):
		return CodeConflict, ce.Key, ce.Reason, true
	case errors.Is(err, ErrInvalid):
		return CodeInvalid, "", err.Error(), true
	}
	return 0, "", "", false
}

// DecodeError rebuilds the error EncodeError split: nil for CodeOK, a
// *ConflictError, or an error that matches ErrInvalid with the same
// message; ok is false for a code it does not know.
func DecodeError(code uint8, key, msg string) (err error, ok bool) {
	switch code {
	case CodeOK:
		return nil, true
	case CodeConflict:
		return &ConflictError{Key: key, Reason: msg}, true
	case CodeInvalid:
		return &invalidError{msg: msg}, true
	}
	return nil, false
}

// invalidError is an ErrInvalid that crossed the wire: its message as the
// sender wrote it, which already names ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// ErrTooLarge: the request is over one of the Limits (too many ops, a
// name, key or value too long, an answer that could be too large).
// Nothing was changed.
var ErrTooLarge = errors.New("too large")
