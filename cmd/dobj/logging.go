package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// newLogger is the one slog logger of a process: dobj's lines and, through
// cluster's hclog adapter, Raft's, in one shape.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logFormat is --log-format, or when it is not given, text for a person
// at a terminal and json for anything else (a file, a pipe, a collector).
func logFormat(flag string, w io.Writer) string {
	if flag != "" {
		return flag
	}
	if isTerminal(w) {
		return "text"
	}
	return "json"
}

// isTerminal tells whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openLog returns where the log goes: stderr, or with --log-file that file
// (appended, created if missing) and its absolute path, which
// /_cluster/status shows. close closes the file.
func openLog(stderr io.Writer, file string) (w io.Writer, path string, close func(), err error) {
	if file == "" {
		return stderr, "", func() {}, nil
	}
	path, err = filepath.Abs(file)
	if err != nil {
		return nil, "", nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, path, func() { f.Close() }, nil
}
