package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Validate checks every setting and returns one error per bad setting,
// each starting with the setting's flag name. Besides the values it
// checks the machine: that both addresses can be listened on now and that
// DataDir can be created and written (it creates DataDir).
func (c Config) Validate() error {
	errs := c.checkValues()
	if len(errs) == 0 {
		errs = append(errs, c.checkResources()...)
	}
	return errors.Join(errs...)
}

func (c Config) checkValues() []error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if c.ID == "" {
		bad("id", "required: give --id or %s", EnvName("id"))
	} else if err := checkID(c.ID); err != nil {
		bad("id", "%v", err)
	}
	if c.DataDir == "" {
		bad("data-dir", "required")
	}
	if err := checkHostPort(c.HTTPAddr); err != nil {
		bad("http-addr", "%v", err)
	}
	if err := checkHostPort(c.RaftAddr); err != nil {
		bad("raft-addr", "%v", err)
	}
	if c.HTTPAddr == c.RaftAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		bad("raft-addr", "%s is also --http-addr", c.RaftAddr)
	}
	if len(c.Peers) > 0 && c.Join != "" {
		bad("join", "give either --peers (a new cluster) or --join (an existing one), not both")
	}
	if len(c.Peers) > 0 && c.ID != "" {
		own := -1
		for i, p := range c.Peers {
			if p.ID == c.ID {
				own = i
			}
		}
		switch {
		case own < 0:
			bad("peers", "this node's id %q is not in the list", c.ID)
		case c.Peers[own].RaftAddr != c.RaftAddr:
			bad("peers", "this node's entry says %s but --raft-addr is %s", c.Peers[own].RaftAddr, c.RaftAddr)
		}
	}
	if c.Join != "" {
		u, err := url.Parse(c.Join)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("join", "%q is not an http(s) URL of a node", c.Join)
		}
	}
	if c.SnapshotThreshold == 0 {
		bad("snapshot-threshold", "must be positive")
	}
	for _, d := range []struct {
		name string
		ok   bool
	}{
		{"snapshot-interval", c.SnapshotInterval > 0},
		{"apply-timeout", c.ApplyTimeout > 0},
		{"idempotency-window", c.IdempotencyWindow > 0},
		{"max-body-bytes", c.MaxBodyBytes > 0},
		{"max-name-bytes", c.MaxNameBytes > 0},
		{"max-key-bytes", c.MaxKeyBytes > 0},
		{"max-value-bytes", c.MaxValueBytes > 0},
		{"max-list-limit", c.MaxListLimit > 0},
	} {
		if !d.ok {
			bad(d.name, "must be positive")
		}
	}
	if c.MaxValueBytes > 0 && c.MaxBodyBytes > 0 && int64(c.MaxValueBytes) > c.MaxBodyBytes {
		bad("max-value-bytes", "%d is larger than --max-body-bytes %d", c.MaxValueBytes, c.MaxBodyBytes)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("log-format", "%q: want json or text", c.LogFormat)
	}
	for _, b := range c.UnsafeBugs {
		switch b {
		case BugStaleReads, BugAckBeforeCommit, BugNoIdempotency:
		default:
			bad("unsafe-bug", "unknown bug %q: want %s, %s or %s", b, BugStaleReads, BugAckBeforeCommit, BugNoIdempotency)
		}
	}
	if len(c.UnsafeBugs) > 0 && !c.UnsafeAllowBugs {
		bad("unsafe-bug", "refused: it breaks correctness on purpose; add --unsafe-allow-bugs if you mean it")
	}
	return errs
}

// checkResources tries what serve will do: listen on both addresses, and
// create and write the data directory.
func (c Config) checkResources() []error {
	var errs []error
	for _, a := range []struct{ name, addr string }{{"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}} {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: cannot listen on %s: %w", a.name, a.addr, err))
			continue
		}
		ln.Close()
	}
	if err := checkWritable(c.DataDir); err != nil {
		errs = append(errs, fmt.Errorf("--data-dir: %s is not usable: %w", c.DataDir, err))
	}
	return errs
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, cerr, rerr)
}

// checkID accepts ids made of letters, digits, '.', '_' and '-', at most
// 64 bytes: they appear in --peers, URLs and file names.
func checkID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("id %q is longer than 64 bytes", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("id %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q: want an explicit host (e.g. 127.0.0.1), since it is published to other nodes", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: bad port", addr)
	}
	return nil
}
