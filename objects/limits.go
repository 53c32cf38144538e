package objects

import (
	"fmt"
	"unicode/utf8"
)

// The defaults of Limits, defined here once: the API, object classes and
// serve's settings refer to them.
const (
	DefaultMaxNameBytes  = 256       // an object's name
	DefaultMaxKeyBytes   = 2048      // a storage key
	DefaultMaxValueBytes = 128 << 10 // one JSON value
	// DefaultMaxOps is the most ops a transaction may hold, counting
	// compares, success and failure ops together: what Durable Objects
	// and etcd allow.
	DefaultMaxOps = 128
)

// answerOverhead is what one Result adds to an answer besides its key and
// value: the JSON field names, punctuation and a found/deleted flag or a
// count, rounded up.
const answerOverhead = 64

// Limits bound what one write may carry and what it may answer. Every
// place a write enters the cluster checks them with Validate: the public
// API, and the leader for a write a peer forwards, so that no path
// bypasses them. Zero fields take the defaults (WithDefaults).
type Limits struct {
	MaxNameBytes  int // object name; default DefaultMaxNameBytes
	MaxKeyBytes   int // storage key; default DefaultMaxKeyBytes
	MaxValueBytes int // one JSON value; default DefaultMaxValueBytes
	MaxOps        int // compares + success + failure ops; default DefaultMaxOps
	// MaxAnswerBytes bounds a transaction's answer. The answer is only
	// known once applied, so the bound is checked before: each get counts
	// as a value of MaxValueBytes. Default: the largest answer of MaxOps
	// gets, so that only an operator lowering it refuses valid requests.
	MaxAnswerBytes int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = DefaultMaxNameBytes
	}
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	if l.MaxOps <= 0 {
		l.MaxOps = DefaultMaxOps
	}
	if l.MaxAnswerBytes <= 0 {
		l.MaxAnswerBytes = l.MaxOps * (l.MaxValueBytes + l.MaxKeyBytes + answerOverhead)
	}
	return l
}

// Validate checks a write of t to object against l (after WithDefaults)
// and t's own shape (Txn.Validate). The error wraps ErrTooLarge when a
// bound is exceeded and ErrInvalid when the request is malformed; either
// way nothing may be applied.
func (l Limits) Validate(object string, t Txn) error {
	l = l.WithDefaults()
	switch {
	case object == "":
		return fmt.Errorf("%w: object name is empty", ErrInvalid)
	case len(object) > l.MaxNameBytes:
		return fmt.Errorf("%w: object name is longer than %d bytes", ErrTooLarge, l.MaxNameBytes)
	case !utf8.ValidString(object):
		return fmt.Errorf("%w: object name is not valid UTF-8", ErrInvalid)
	}
	if n := len(t.Compare) + len(t.Success) + len(t.Failure); n > l.MaxOps {
		return fmt.Errorf("%w: %d ops in one transaction, at most %d", ErrTooLarge, n, l.MaxOps)
	}
	if err := t.Validate(); err != nil {
		return err
	}
	for i, c := range t.Compare {
		if err := l.checkEntry(c.Key, c.Value); err != nil {
			return fmt.Errorf("compare[%d]: %w", i, err)
		}
	}
	for _, list := range []struct {
		name string
		ops  []Op
	}{{"success", t.Success}, {"failure", t.Failure}} {
		for i, op := range list.ops {
			if err := l.checkEntry(op.Key, op.Value); err != nil {
				return fmt.Errorf("%s[%d]: %w", list.name, i, err)
			}
		}
		if n := l.answerBound(list.ops); n > l.MaxAnswerBytes {
			return fmt.Errorf("%w: the answer of %s could reach %d bytes, more than %d (each get counts as %d bytes)",
				ErrTooLarge, list.name, n, l.MaxAnswerBytes, l.MaxValueBytes)
		}
	}
	return nil
}

// checkEntry checks the sizes and encoding of one key and value (Validate
// has checked the value is JSON).
func (l Limits) checkEntry(key string, value []byte) error {
	switch {
	case len(key) > l.MaxKeyBytes:
		return fmt.Errorf("%w: key is longer than %d bytes", ErrTooLarge, l.MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalid)
	case len(value) > l.MaxValueBytes:
		return fmt.Errorf("%w: value is larger than %d bytes", ErrTooLarge, l.MaxValueBytes)
	}
	return nil
}

// answerBound is the most bytes the results of ops can take.
func (l Limits) answerBound(ops []Op) int {
	n := 0
	for _, op := range ops {
		n += answerOverhead + len(op.Key)
		switch op.Op {
		case OpGet:
			n += l.MaxValueBytes
		case OpIncrement:
			n += 20 // an int64
		}
	}
	return n
}
