package classes

import (
	"embed"
	"strings"
	"sync"

	"github.com/dop251/goja"
)

// The prelude is the Web APIs and the Durable Object context of a class
// runtime, one Web API a file in js/ (as goja_nodejs and workerd's api/
// keep theirs). The files are parts of one function body, run in
// preludeParts' order in one scope, so that they share their helpers
// (define, guardString, the built-ins taken before any class code runs)
// without putting them where class code can reach them. The function is
// called once per runtime with the Go natives and the limits (vm.go); it
// defines the globals and returns the hooks the engine drives.
// websocket.js and workers.js are programs of their own (websocket.go,
// worker.go).

//go:embed js/*.js
var preludeFiles embed.FS

// preludeParts are js/'s parts of the prelude in the order they run:
// first the bounds on built-ins, which must be in place before the rest
// takes built-ins, then the Web APIs, then the hooks.
var preludeParts = []string{
	"builtins.js", "regexp.js", "json.js", "strings.js", "globals.js",
	"domexception.js", "encoding.js", "headers.js", "url.js", "body.js", "request.js", "response.js",
	"subtle.js", "crypto.js", "console.js", "timers.js", "events.js", "streams.js", "blob.js", "formdata.js", "fetch.js", "clone.js",
	"storage.js", "sql.js", "context.js", "hooks.js",
}

// preludeSource joins the parts into the prelude function.
func preludeSource() (string, error) {
	var b strings.Builder
	b.WriteString("(function (native, maxStringLength, maxArrayLength, regexpTimeoutMs) {\n  \"use strict\";\n")
	for _, name := range preludeParts {
		part, err := preludeFiles.ReadFile("js/" + name)
		if err != nil {
			return "", err
		}
		b.Write(part)
	}
	b.WriteString("})\n")
	return b.String(), nil
}

// preludeProgram is the prelude compiled once: a goja Program is
// immutable and may run in many runtimes, and compiling it for each
// instance would cost more than the rest of building one.
var preludeProgram = sync.OnceValues(func() (*goja.Program, error) {
	src, err := preludeSource()
	if err != nil {
		return nil, err
	}
	return goja.Compile("prelude.js", src, true)
})
