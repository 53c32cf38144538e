// Package project reads a Durable Objects project as wrangler does — its
// wrangler.toml, wrangler.json or wrangler.jsonc, its src/ and its
// node_modules — and turns it into what a dobj cluster runs: a validated
// Config and one bundled script.
//
// It is the client side of `dobj deploy DIR` (the Workers issue):
//
//	cfg, err := project.Load(dir, time.Now())    // *ConfigError: file, line, field
//	for _, w := range cfg.Warnings { … }         // wrangler fields dobj ignores
//	script, err := project.Bundle(cfg, project.BundleOptions{})
//	// upload script.Code with cfg (name, compatibility date, vars,
//	// bindings, cfg.Classes(), services, routes)
//
// Load reads no clock (the caller passes today's date, the default
// compatibility date) and Bundle reads only the project's own files, so both
// are deterministic and run before anything is sent: a project that names a
// class its main module does not export fails here, naming the file, line
// and field, never on the server. `dobj dev --app DIR` can watch
// Script.Inputs to know when to redeploy.
//
// The server side (scripts in the FSM, the Worker listener, namespaces in
// the runtime) uses Config's types for the uploaded configuration and
// Class.CreatedAs with objects.NewNamespace for each class's ids; the
// runtime provides the `cloudflare:*` modules that Bundle leaves external.
//
// Neighbours: cmd/dobj calls it; it imports nothing of the project. The
// formats are decoded by github.com/pelletier/go-toml/v2 (strict, with
// positions) and, for JSON with comments and trailing commas,
// github.com/tailscale/hujson with github.com/go-json-experiment/json; the
// bundle is built by esbuild's Go API.
package project
