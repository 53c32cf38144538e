package objects

import (
	"math"
	"strconv"
)

// Conflict reasons of counter ops.
const (
	ReasonNotInteger = "not an integer"
	ReasonOverflow   = "overflow"
)

// Counter returns the int64 stored at key of object, 0 when absent. A stored
// value that is not a JSON integer fitting int64 is a *ConflictError.
func (s *Store) Counter(object, key string) (int64, error) {
	v, ok := s.Get(object, key)
	if !ok {
		return 0, nil
	}
	n, ok := parseInt(v)
	if !ok {
		return 0, &ConflictError{Key: key, Reason: ReasonNotInteger}
	}
	return n, nil
}

// parseInt parses a JSON integer (-?(0|[1-9][0-9]*)) that fits int64.
// Fractions, exponents, strings, whitespace and any other JSON are refused,
// even when they denote an integer (1.0, 1e3): a counter is stored as a
// canonical integer.
func parseInt(b []byte) (int64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// add returns a+b, or false when the sum overflows int64.
func add(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

// formatInt is n as a canonical JSON integer.
func formatInt(n int64) []byte { return strconv.AppendInt(nil, n, 10) }
