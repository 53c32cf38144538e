package project

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"time"
	"unicode"
)

// scriptName is a script's name: lowercase letters, digits, - and _,
// starting with a letter or digit, at most 63 bytes (a DNS label, as a
// workers.dev host needs).
var scriptName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validate checks everything Load promises beyond decoding, in file order
// of the fields, and fills c.Routes.
func (c *Config) validate(raw *rawFile) error {
	steps := []func(*Config, *rawFile) error{
		(*Config).checkTop, (*Config).checkBindings, (*Config).checkMigrations,
		(*Config).checkServices, (*Config).checkRoutes,
	}
	for _, step := range steps {
		if err := step(c, raw); err != nil {
			return err
		}
	}
	c.warnIgnored()
	return nil
}

func (c *Config) checkTop(raw *rawFile) error {
	switch {
	case raw.Name == "":
		return c.errorAt(field{"name"}, "missing: the script needs a name")
	case !scriptName.MatchString(raw.Name):
		return c.errorAt(field{"name"}, "%q is not 1 to 63 lowercase letters, digits, - and _, starting with a letter or digit", raw.Name)
	case raw.Main == "":
		return c.errorAt(field{"main"}, "missing: the entry module, such as src/index.ts")
	}
	if st, err := os.Stat(c.Main); errors.Is(err, fs.ErrNotExist) {
		return c.errorAt(field{"main"}, "%s does not exist", raw.Main)
	} else if err != nil {
		return c.errorAt(field{"main"}, "%v", err)
	} else if st.IsDir() {
		return c.errorAt(field{"main"}, "%s is a directory, not a module", raw.Main)
	}
	if raw.CompatibilityDate != "" {
		if _, err := time.Parse(time.DateOnly, raw.CompatibilityDate); err != nil {
			return c.errorAt(field{"compatibility_date"}, "%q is not a date YYYY-MM-DD", raw.CompatibilityDate)
		}
	}
	return nil
}

// checkBindings checks the Durable Object bindings and that no two
// bindings of any kind (vars included) share a name.
func (c *Config) checkBindings(*rawFile) error {
	for i, b := range c.DurableObjects {
		f := field{"durable_objects", "bindings", i}
		if err := c.checkBindingName(f.at("name"), b.Name); err != nil {
			return err
		}
		if b.ClassName == "" {
			return c.errorAt(f.at("class_name"), "missing: binding %s names no class", b.Name)
		}
		if !isIdentifier(b.ClassName) {
			return c.errorAt(f.at("class_name"), "%q is not a JavaScript class name", b.ClassName)
		}
		if b.ScriptName != "" && !scriptName.MatchString(b.ScriptName) {
			return c.errorAt(f.at("script_name"), "%q is not a script name", b.ScriptName)
		}
	}
	seen := map[string]field{}
	for name := range c.Vars {
		seen[name] = field{"vars", name}
	}
	add := func(name string, f field) error {
		if prev, dup := seen[name]; dup {
			return c.errorAt(f, "binding %s is also defined by %s", name, prev)
		}
		seen[name] = f
		return nil
	}
	for i, b := range c.DurableObjects {
		if err := add(b.Name, field{"durable_objects", "bindings", i, "name"}); err != nil {
			return err
		}
	}
	for i, s := range c.Services {
		if err := add(s.Binding, field{"services", i, "binding"}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkBindingName(f field, name string) error {
	if name == "" {
		return c.errorAt(f, "missing: the binding's name in env")
	}
	if !isIdentifier(name) {
		return c.errorAt(f, "%q is not a JavaScript identifier", name)
	}
	return nil
}

func (c *Config) checkServices(*rawFile) error {
	for i, s := range c.Services {
		f := field{"services", i}
		if err := c.checkBindingName(f.at("binding"), s.Binding); err != nil {
			return err
		}
		if s.Service == "" {
			return c.errorAt(f.at("service"), "missing: binding %s names no script", s.Binding)
		}
		if !scriptName.MatchString(s.Service) {
			return c.errorAt(f.at("service"), "%q is not a script name", s.Service)
		}
		if s.Entrypoint != "" && !isIdentifier(s.Entrypoint) {
			return c.errorAt(f.at("entrypoint"), "%q is not an export name", s.Entrypoint)
		}
	}
	return nil
}

// checkRoutes converts routes and route (a pattern, or a table with one).
func (c *Config) checkRoutes(raw *rawFile) error {
	if raw.Route != nil && raw.Routes != nil {
		return c.errorAt(field{"route"}, "give either route or routes, not both")
	}
	if raw.Route != nil {
		r, err := c.route(field{"route"}, raw.Route)
		c.Routes = []Route{r}
		return err
	}
	for i, e := range raw.Routes {
		r, err := c.route(field{"routes", i}, e)
		if err != nil {
			return err
		}
		c.Routes = append(c.Routes, r)
	}
	return nil
}

func (c *Config) route(f field, v any) (Route, error) {
	if s, ok := v.(string); ok {
		if s == "" {
			return Route{}, c.errorAt(f, "empty pattern")
		}
		return Route{Pattern: s}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Route{}, c.errorAt(f, "want a pattern string or a table with pattern")
	}
	var r Route
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		var ok bool
		switch k {
		case "pattern":
			r.Pattern, ok = val.(string)
		case "zone_name":
			r.ZoneName, ok = val.(string)
		case "zone_id":
			r.ZoneID, ok = val.(string)
		case "custom_domain":
			r.CustomDomain, ok = val.(bool)
		default:
			return Route{}, c.errorAt(f.at(k), "unknown field")
		}
		if !ok {
			return Route{}, c.errorAt(f.at(k), "ill-typed: want a %s", map[bool]string{true: "boolean", false: "string"}[k == "custom_domain"])
		}
	}
	if r.Pattern == "" {
		return Route{}, c.errorAt(f.at("pattern"), "missing")
	}
	return r, nil
}

// warnIgnored adds a warning for each ignored wrangler field the file sets.
func (c *Config) warnIgnored() {
	for _, name := range ignoredFields {
		if line, ok := c.lines[field{name}.pointer()]; ok {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: %s: accepted and ignored by dobj", c.File, line, name))
		}
	}
}

// isIdentifier reports whether s is a JavaScript identifier (letters, _, $
// and, after the first, digits and combining marks).
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r == '$' || unicode.IsLetter(r) ||
			(i > 0 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)))
		if !ok {
			return false
		}
	}
	return true
}
