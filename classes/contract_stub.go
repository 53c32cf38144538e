// Package classes is a stand-in with the runtime's contract (issue 14)
// until the runtime lands from branch classes; this file is deleted when
// that branch is merged.
package classes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dobj/dobj/objects"
)

type Lang string

const (
	LangJS Lang = "js"
	LangTS Lang = "ts"
)

type CompileError struct {
	Line, Column int
	Message      string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("line %d:%d: %s", e.Line, e.Column, e.Message)
}

var (
	ErrCPULimit         = errors.New("cpu limit")
	ErrSourceTooLarge   = errors.New("source too large")
	ErrResponseTooLarge = errors.New("response too large")
	ErrValueTooLarge    = errors.New("value too large")
)

type ScriptError struct {
	Message string
	Stack   string
	Err     error
}

func (e *ScriptError) Error() string { return "script error: " + e.Message }
func (e *ScriptError) Unwrap() error { return e.Err }

type Program struct{ class string }

func Compile(class string, source []byte, lang Lang) (*Program, error) {
	if len(source) > 1<<20 {
		return nil, ErrSourceTooLarge
	}
	return &Program{class: class}, nil
}

func ExportedClasses(source []byte, lang Lang) ([]string, error) { return nil, nil }

type Request struct {
	Method, URL string
	Header      http.Header
	Body        []byte
}

type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

type State interface {
	Get(key string) (json.RawMessage, bool)
	List(opts objects.ListOptions) []objects.Entry
	Alarm() (atMillis int64, ok bool)
}

type Effects struct {
	Ops   []objects.Op
	Alarm *AlarmChange
}

type AlarmChange struct {
	Delete bool
	At     int64
}

type AlarmInfo struct {
	RetryCount int
	IsRetry    bool
}

type ClassRef struct {
	Name    string
	Version uint64
	Program *Program
}

type Config struct {
	Logger                                                                    *slog.Logger
	CPULimit                                                                  time.Duration
	MaxStackDepth, MaxResponseBytes, MaxValueBytes, MaxKeyBytes, MaxInstances int
}

type Engine struct{}

func NewEngine(cfg Config) *Engine { return &Engine{} }

func (e *Engine) Call(ctx context.Context, ref ClassRef, object string, req *Request, state State, commit func(Effects, *Response) error) (*Response, error) {
	return nil, errors.New("stub")
}

func (e *Engine) Alarm(ctx context.Context, ref ClassRef, object string, info AlarmInfo, state State, commit func(Effects) error) error {
	return errors.New("stub")
}

func (e *Engine) Forget(class string) {}
