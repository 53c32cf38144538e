package sqlstore

import "github.com/ncruces/go-sqlite3"

// Each open database is its own WebAssembly SQLite with its own linear
// memory, mapped outside the Go heap. That memory grows with the largest
// rows that pass through the database and never shrinks: 0.5 MB freshly
// opened, 1.8 MB once a 256 KiB value has been written and read, 5 MB
// after a 1 MiB one (the resident part is about 0.3, 1.4 and 4.5 MB).
// So the pool weighs each handle by its memory (Config.MaxOpenBytes)
// rather than only counting them: a node keeps a thousand small
// databases open, or a few hundred that have held large rows, in the
// same memory.

// memoryProbe reads the size of a connection's WebAssembly memory.
// go-sqlite3 exposes a connection's module only to the extensions it
// loads (ExtEnv, documented as internal and subject to change), so the
// probe is loaded as an extension that does nothing but keep the
// environment it is given. A go-sqlite3 upgrade that changes ExtEnv
// fails to compile here, not at run time.
type memoryProbe struct{ env *sqlite3.ExtEnv }

// noExtension is the probe's extension: it registers nothing.
type noExtension struct{}

func (noExtension) Xsqlite3_extension_init(_, _, _ int32) int32 { return 0 }

// newMemoryProbe loads the probe into c.
func newMemoryProbe(c *sqlite3.Conn) (*memoryProbe, error) {
	p := &memoryProbe{}
	err := sqlite3.ExtensionInit(c, func(env *sqlite3.ExtEnv) noExtension {
		p.env = env
		return noExtension{}
	}, func() (int64, int64, int64, int64) { return 0, 0, 0, 0 })
	if err != nil {
		return nil, err
	}
	return p, nil
}

// bytes is the connection's memory size now. The caller holds the
// handle (the connection may grow it otherwise), and the connection is
// open: closing it frees the memory the probe reads.
func (p *memoryProbe) bytes() int64 {
	if p == nil || p.env == nil || p.env.Wrapper == nil || p.env.Memory == nil {
		return 0
	}
	return int64(len(p.env.Buf))
}
