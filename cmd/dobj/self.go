package main

import (
	"os"
	"path/filepath"
	"strings"
)

// selfCommand is how the person at the terminal runs this binary again,
// for hints such as dev's banner: "go run ./cmd/dobj" when it was started
// by go run (its executable then lies in go's temporary build
// directory), else the path it was started with ("./dobj", or "dobj"
// when found on the PATH).
func selfCommand() string {
	return selfCommandOf(os.Args[0])
}

func selfCommandOf(argv0 string) string {
	if strings.Contains(filepath.ToSlash(argv0), "/go-build") {
		return "go run ./cmd/dobj"
	}
	if argv0 == "" {
		return "dobj"
	}
	return argv0
}
