package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is an hclog.Logger that writes through a *slog.Logger, so
// that hashicorp/raft's lines have the shape of dobj's own (same handler:
// time, level, msg, node, component, then the line's own attributes)
// instead of hclog's "@level"/"@message" JSON. hclog has no released slog
// bridge, so this is a small one: one log stream, one shape.
type hclogAdapter struct {
	log     *slog.Logger
	name    string        // hclog's name, e.g. raft.net; logged as component
	level   *atomic.Int32 // hclog.Level, shared with the loggers made from this one
	implied []any         // With's arguments
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHCLogger returns an hclog.Logger named name that logs to l at level
// (debug, info, warn, error, as hclog.LevelFromString reads it) and above.
func newHCLogger(l *slog.Logger, name, level string) hclog.Logger {
	lv := hclog.LevelFromString(level)
	if lv == hclog.NoLevel {
		lv = hclog.Info
	}
	a := &hclogAdapter{log: l, name: name, level: new(atomic.Int32)}
	a.level.Store(int32(lv))
	return a
}

// slogLevel maps an hclog level onto slog's; trace sits below debug.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	min := hclog.Level(a.level.Load())
	if l == hclog.NoLevel {
		l = hclog.Info
	}
	return min != hclog.Off && l >= min && a.log.Enabled(context.Background(), slogLevel(l))
}

// reservedKeys are attributes the slog line already has; a Raft argument
// of the same name (Raft logs its own "node" on some lines) is renamed, so
// a line never holds a key twice.
var reservedKeys = map[string]bool{"time": true, "level": true, "msg": true, "node": true, "component": true}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if !a.enabled(level) {
		return
	}
	attrs := make([]slog.Attr, 0, 1+(len(a.implied)+len(args))/2)
	attrs = append(attrs, slog.String("component", a.name))
	attrs = appendAttrs(attrs, a.implied)
	attrs = appendAttrs(attrs, args)
	a.log.LogAttrs(context.Background(), slogLevel(level), msg, attrs...)
}

// appendAttrs turns hclog's key, value, key, value… into attributes.
func appendAttrs(attrs []slog.Attr, args []any) []slog.Attr {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			attrs = append(attrs, slog.Any("EXTRA_VALUE_AT_END", attrValue(args[i])))
			break
		}
		key := fmt.Sprint(args[i])
		if reservedKeys[key] {
			key = "raft_" + key
		}
		attrs = append(attrs, slog.Any(key, attrValue(args[i+1])))
	}
	return attrs
}

// attrValue makes a Raft argument printable by any slog handler: its
// structs (a *raft.Raft, a configuration) become their text rather than
// whatever JSON encoding makes of their fields.
func attrValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int, int32, int64, uint, uint32, uint64, float64:
		return v
	case hclog.Format:
		if len(v) > 0 {
			if f, ok := v[0].(string); ok {
				return fmt.Sprintf(f, v[1:]...)
			}
		}
		return fmt.Sprint(v...)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprintf("%+v", v)
	}
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) SetLevel(l hclog.Level) { a.level.Store(int32(l)) }
func (a *hclogAdapter) GetLevel() hclog.Level  { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each line written to it, at
// info, or with InferLevels at the level its "[LEVEL]" prefix names.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return writerFunc(func(p []byte) (int, error) {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			level := hclog.Info
			if infer {
				for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
					prefix := "[" + strings.ToUpper(l.String()) + "]"
					if rest, ok := strings.CutPrefix(line, prefix); ok {
						level, line = l, strings.TrimSpace(rest)
						break
					}
				}
			}
			a.Log(level, line)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
