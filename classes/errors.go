package classes

import (
	"errors"
	"fmt"
)

// errPanic: a native of ours panicked; the call fails and its runtime is
// retired, as after ErrMemoryLimit.
var errPanic = errors.New("classes: panic in the runtime")

var (
	// ErrSourceTooLarge: a module's source is over MaxSourceBytes.
	ErrSourceTooLarge = errors.New("source too large")
	// ErrInvalidClassName: a class name is not a JavaScript identifier of at
	// most MaxClassNameBytes bytes.
	ErrInvalidClassName = errors.New("invalid class name")
	// ErrCPULimit: a call ran JavaScript for longer than Config.CPULimit. The
	// object's instance is discarded; nothing is committed.
	ErrCPULimit = errors.New("cpu time limit exceeded")
	// ErrMemoryLimit: while a call's JavaScript ran, the node's live heap
	// grew by more than Config.MaxHeapGrowth, or the call left its runtime
	// holding more than Config.MaxRuntimeBytes. The instance and the runtime
	// it ran on are discarded (freeing what they held; the runtime's other
	// instances are rebuilt from storage at their next call); nothing is
	// committed.
	ErrMemoryLimit = errors.New("memory limit exceeded")
	// ErrStackOverflow: a call nested JavaScript calls deeper than
	// Config.MaxStackDepth. The instance is discarded; nothing is committed.
	ErrStackOverflow = errors.New("javascript call stack exceeded")
	// ErrResponseTooLarge: fetch returned a body over Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrValueTooLarge: a stored value encodes to more than
	// Config.MaxValueBytes of JSON. Inside JavaScript it is a RangeError the
	// class may catch; uncaught, the call's *ScriptError wraps it.
	ErrValueTooLarge = errors.New("value too large")
	// ErrWriteTooLarge: one call put more than Config.MaxWriteBytes of keys
	// and values. A RangeError inside JavaScript, like ErrValueTooLarge.
	ErrWriteTooLarge = errors.New("call writes too much")
	// ErrNotSQLite: a class that is not SQLite-backed (not listed under
	// new_sqlite_classes) used ctx.storage.sql, ctx.storage.kv or
	// transactionSync. An Error inside JavaScript; uncaught, the call's
	// *ScriptError wraps it.
	ErrNotSQLite = errors.New("this API needs a SQLite-backed Durable Object: list the class under new_sqlite_classes in a [[migrations]] entry of its wrangler configuration")
	// ErrKeyTooLarge: a storage key is longer than Config.MaxKeyBytes.
	ErrKeyTooLarge = errors.New("key too large")
	// ErrStringTooLarge: a string built by repeat/padStart/padEnd would be
	// longer than Config.MaxStringBytes; stopped before it is allocated.
	ErrStringTooLarge = errors.New("string too large")
	// ErrArrayTooLarge: Array.prototype.fill, Array.from of an array-like,
	// or an ArrayBuffer or typed-array constructor would allocate more than
	// Config.MaxArrayLength elements (8-byte units for buffers); stopped
	// before it is allocated.
	ErrArrayTooLarge = errors.New("array too large")
	// ErrTooDeep: JSON.stringify of a value nested deeper than 1,000 arrays
	// and objects (which goja would take quadratic, uninterruptible time
	// over).
	ErrTooDeep = errors.New("value nested too deeply")
	// ErrNotSerializable: a value given to storage holds something structured
	// clone of JSON-like data cannot keep (a function, a symbol, a cycle, a
	// top-level undefined). Inside JavaScript it is a TypeError
	// (DataCloneError in browsers).
	ErrNotSerializable = errors.New("value cannot be stored")
	// ErrNeverSettled: fetch or alarm returned a promise that can no longer
	// settle (it awaits something that is not a pending timer).
	ErrNeverSettled = errors.New("promise never settled")
)

// CompileError is a module that does not compile or does not export the
// class. Line is 1-based and Column 0-based, both in the submitted source;
// Line is 0 when no line applies.
type CompileError struct {
	Line    int
	Column  int
	Message string
}

func (e *CompileError) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// ScriptError is a call whose fetch or alarm threw, or whose promise was
// rejected. Message is the exception's message (for a 500's detail); Stack
// its stack trace when known. Err is the engine's own error when the
// exception came from the engine (a value too large for storage, …), so
// errors.Is(err, ErrValueTooLarge) holds for an uncaught one.
type ScriptError struct {
	// Name is the exception's name (TypeError, …) when it is an object
	// with a message; empty otherwise.
	Name    string
	Message string
	Stack   string
	Err     error
}

func (e *ScriptError) Error() string { return "script error: " + e.Message }

// Unwrap returns the engine error the exception carried, if any.
func (e *ScriptError) Unwrap() error { return e.Err }
