package project

import (
	"errors"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to both decoders: no panic, and every
// failure a *ConfigError naming the file.
func FuzzParse(f *testing.F) {
	f.Add(true, []byte(fullTOML))
	f.Add(false, []byte(fullJSONC))
	f.Add(true, []byte(counterTOML))
	f.Add(true, []byte("[[migrations]]\ntag = \"v1\"\n[[migrations.renamed_classes]]\nfrom = \"A\"\nto = \"B\"\n[a.b.c]\nd = [1, {e = [2]}]\n"))
	f.Add(false, []byte(`{"routes": [{"pattern": 5}], /* x */ "vars": {"a": [1,],},}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, isTOML bool, data []byte) {
		file := filepath.Join(dir, "wrangler.jsonc")
		if isTOML {
			file = filepath.Join(dir, "wrangler.toml")
		}
		c, err := parse(file, data, today)
		if err == nil {
			if c.Name == "" || c.Main == "" || c.CompatibilityDate == "" {
				t.Fatalf("accepted a project without name, main or date: %+v", c)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.File != file {
			t.Fatalf("error %v (%T) is not a *ConfigError naming %s", err, err, file)
		}
	})
}
