package project

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ConfigFiles are the names Load looks for, in this order; the first found
// is the project's configuration.
var ConfigFiles = []string{"wrangler.toml", "wrangler.json", "wrangler.jsonc"}

// Config is a Durable Objects project as its wrangler configuration
// declares it, validated. Paths are absolute.
type Config struct {
	// Dir is the project's directory; File its configuration file.
	Dir  string
	File string

	// Name is the script's name; Main the entry module (absolute).
	Name string
	Main string
	// CompatibilityDate is YYYY-MM-DD; the day passed to Load when the
	// file gives none, as wrangler does.
	CompatibilityDate  string
	CompatibilityFlags []string
	// Vars are the plain-text environment variables: strings, or any JSON
	// value for a table or object.
	Vars           map[string]any
	DurableObjects []DurableObjectBinding
	Migrations     []Migration
	Services       []ServiceBinding
	// Routes are `routes` and `route` together (a file may give only one).
	Routes []Route
	// Define replaces global identifiers with JavaScript expressions when
	// bundling; Alias replaces imported module names with others (or with
	// paths relative to Dir). Both are wrangler's and esbuild's.
	Define map[string]string
	Alias  map[string]string

	// Warnings name the wrangler fields the file sets that dobj accepts
	// and ignores (account_id, observability, env, …), one per field.
	Warnings []string

	lines lines // where each field sits in File, for Bundle's errors
}

// DurableObjectBinding is one [[durable_objects.bindings]]: env[Name] is
// the namespace of ClassName, in ScriptName when that is set (another
// script's class) or else in this project.
type DurableObjectBinding struct {
	Name       string `toml:"name" json:"name"`
	ClassName  string `toml:"class_name" json:"class_name"`
	ScriptName string `toml:"script_name" json:"script_name"`
}

// Migration is one [[migrations]] step; the steps apply in file order, and
// a server applies those after the last tag it has applied.
type Migration struct {
	Tag              string         `toml:"tag" json:"tag"`
	NewClasses       []string       `toml:"new_classes" json:"new_classes"`
	NewSQLiteClasses []string       `toml:"new_sqlite_classes" json:"new_sqlite_classes"`
	RenamedClasses   []RenamedClass `toml:"renamed_classes" json:"renamed_classes"`
	DeletedClasses   []string       `toml:"deleted_classes" json:"deleted_classes"`
}

// RenamedClass is a class renamed by a migration: its objects move to To.
type RenamedClass struct {
	From string `toml:"from" json:"from"`
	To   string `toml:"to" json:"to"`
}

// ServiceBinding is one `services` entry: env[Binding] calls the script
// Service, at its named Entrypoint export or else its default export.
type ServiceBinding struct {
	Binding    string `toml:"binding" json:"binding"`
	Service    string `toml:"service" json:"service"`
	Entrypoint string `toml:"entrypoint" json:"entrypoint"`
}

// Route is where a script's Worker serves: Pattern (host and path, `*`
// wildcards), given alone as a string or with a zone or as a custom domain.
type Route struct {
	Pattern      string `json:"pattern"`
	ZoneName     string `json:"zone_name,omitempty"`
	ZoneID       string `json:"zone_id,omitempty"`
	CustomDomain bool   `json:"custom_domain,omitempty"`
}

// Load reads the project in dir: the first of ConfigFiles found there,
// validated. today is the compatibility date of a file that gives none (the
// caller's clock, so that Load itself reads none).
//
// A missing file is ErrNoConfig. Anything else wrong — invalid syntax, an
// unknown or ill-typed field, a missing name or main, a binding without a
// class_name, a migration that deletes a class still bound — is a
// *ConfigError naming the file, the line where the format gives one, and
// the field.
func Load(dir string, today time.Time) (*Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("project directory %s: %w", dir, err)
	}
	for _, name := range ConfigFiles {
		file := filepath.Join(abs, name)
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		return parse(file, data, today)
	}
	return nil, fmt.Errorf("%w in %s", ErrNoConfig, abs)
}

// parse decodes and validates one configuration file's contents.
func parse(file string, data []byte, today time.Time) (*Config, error) {
	var (
		raw rawFile
		ln  lines
		err error
	)
	if filepath.Ext(file) == ".toml" {
		ln, err = decodeTOML(file, data, &raw)
	} else {
		ln, err = decodeJSONC(file, data, &raw)
	}
	if err != nil {
		return nil, err
	}
	c := &Config{
		Dir:                filepath.Dir(file),
		File:               file,
		Name:               raw.Name,
		CompatibilityDate:  raw.CompatibilityDate,
		CompatibilityFlags: raw.CompatibilityFlags,
		Vars:               raw.Vars,
		DurableObjects:     raw.DurableObjects.Bindings,
		Migrations:         raw.Migrations,
		Services:           raw.Services,
		Define:             raw.Define,
		Alias:              raw.Alias,
		lines:              ln,
	}
	if c.CompatibilityDate == "" {
		c.CompatibilityDate = today.Format(time.DateOnly)
	}
	if raw.Main != "" {
		c.Main = filepath.Join(c.Dir, filepath.FromSlash(raw.Main))
	}
	if err := c.validate(&raw); err != nil {
		return nil, err
	}
	return c, nil
}

// errorAt is a *ConfigError about field f of c's file.
func (c *Config) errorAt(f field, format string, args ...any) *ConfigError {
	return &ConfigError{File: c.File, Line: c.lines.of(f), Field: f.String(), Message: fmt.Sprintf(format, args...)}
}
