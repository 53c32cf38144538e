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
	errs := append(c.checkValues(), c.checkSecurity()...)
	if len(errs) == 0 {
		errs = append(errs, c.checkResources()...)
	}
	return errors.Join(errs...)
}

// problems collects one error per bad setting, each starting with the
// setting's flag name.
type problems []error

func (p *problems) bad(setting, format string, args ...any) {
	*p = append(*p, fmt.Errorf("--%s: %s", setting, fmt.Sprintf(format, args...)))
}

// checkValues checks each setting's value and how settings fit together,
// without touching the machine.
func (c Config) checkValues() []error {
	var p problems
	c.checkIdentity(&p)
	c.checkAddrs(&p)
	c.checkMembership(&p)
	c.checkLimits(&p)
	c.checkLogging(&p)
	return p
}

// checkIdentity checks the node's id, data directory and log store.
func (c Config) checkIdentity(p *problems) {
	if c.ID == "" {
		p.bad("id", "required: give --id or %s", EnvName("id"))
	} else if err := checkID(c.ID); err != nil {
		p.bad("id", "%v", err)
	}
	if c.DataDir == "" {
		p.bad("data-dir", "required")
	}
	if c.LogStore != "" && c.LogStore != "wal" && c.LogStore != "bolt" {
		p.bad("log-store", "%q: want wal or bolt", c.LogStore)
	}
}

// checkAddrs checks the listen addresses and those published for them.
func (c Config) checkAddrs(p *problems) {
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		p.bad("http-addr", "%v", err)
	}
	if c.WorkerAddr != "" {
		if err := checkListenAddr(c.WorkerAddr); err != nil {
			p.bad("worker-addr", "%v", err)
		}
	}
	if err := checkListenAddr(c.RaftAddr); err != nil {
		p.bad("raft-addr", "%v", err)
	}
	if c.HTTPAddr == c.RaftAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		p.bad("raft-addr", "%s is also --http-addr", c.RaftAddr)
	}
	if err := checkAdvertise("advertise-http", "http-addr", c.AdvertiseHTTP, c.HTTPAddr); err != nil {
		p.bad("advertise-http", "%v", err)
	}
	if err := checkAdvertise("advertise-raft", "raft-addr", c.AdvertiseRaft, c.RaftAddr); err != nil {
		p.bad("advertise-raft", "%v", err)
	}
	if c.AdvertiseHTTP != "" && c.AdvertiseHTTP == c.AdvertiseRaft && !strings.HasSuffix(c.AdvertiseHTTP, ":0") {
		p.bad("advertise-raft", "%s is also --advertise-http", c.AdvertiseRaft)
	}
}

// checkMembership checks how the node finds its cluster: --peers to
// bootstrap one, or --join to enter one.
func (c Config) checkMembership(p *problems) {
	if len(c.Peers) > 0 && c.Join != "" {
		p.bad("join", "give either --peers (a new cluster) or --join (an existing one), not both")
	}
	if len(c.Peers) > 0 && c.ID != "" {
		own := -1
		for i, peer := range c.Peers {
			if peer.ID == c.ID {
				own = i
			}
		}
		switch {
		case own < 0:
			p.bad("peers", "this node's id %q is not in the list", c.ID)
		case c.AdvertiseRaft != "" && c.Peers[own].RaftAddr != c.AdvertiseRaft:
			// The others dial the entry, so it must be where this node
			// says it is reached (an empty AdvertiseRaft has its own error).
			p.bad("peers", "this node's entry says %s but --advertise-raft (default --raft-addr) is %s", c.Peers[own].RaftAddr, c.AdvertiseRaft)
		}
	}
	if c.Join != "" {
		u, err := url.Parse(c.Join)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.bad("join", "%q is not an http(s) URL of a node", c.Join)
		}
	}
}

// checkLimits checks the sizes, counts and timeouts, and the ones that
// bound each other.
func (c Config) checkLimits(p *problems) {
	if c.WALSegmentBytes < 64<<10 || c.WALSegmentBytes > 1<<30 {
		p.bad("wal-segment-bytes", "%d: want 64 KiB to 1 GiB", c.WALSegmentBytes)
	}
	if c.SnapshotThreshold == 0 {
		p.bad("snapshot-threshold", "must be positive")
	}
	if c.SQLMaxDatabaseBytes < 64<<10 {
		p.bad("sql-max-database-bytes", "%d: want at least 64 KiB", c.SQLMaxDatabaseBytes)
	}
	if c.SQLMaxResultBytes < 64<<10 {
		p.bad("sql-max-result-bytes", "%d: want at least 64 KiB", c.SQLMaxResultBytes)
	}
	if c.SQLOpenDatabases < 1 {
		p.bad("sql-open-databases", "must be positive")
	}
	if c.SQLOpenBytes < 1<<20 {
		p.bad("sql-open-bytes", "%d: want at least 1 MiB", c.SQLOpenBytes)
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
		{"max-txn-ops", c.MaxTxnOps > 0},
		{"max-in-flight", c.MaxInFlight > 0},
		{"http-read-timeout", c.HTTPReadTimeout > 0},
		{"http-write-timeout", c.HTTPWriteTimeout > 0},
		{"http-idle-timeout", c.HTTPIdleTimeout > 0},
		{"class-cpu-limit", c.ClassCPULimit > 0},
		{"watch-history", c.WatchHistory > 0},
		{"watch-history-bytes", c.WatchHistoryBytes > 0},
		{"watch-buffer", c.WatchBuffer > 0},
		{"max-watches", c.MaxWatches > 0},
		{"max-streams-per-token", c.MaxStreamsPerToken > 0},
	} {
		if !d.ok {
			p.bad(d.name, "must be positive")
		}
	}
	if c.ClassMaxInstances < 0 {
		p.bad("class-max-instances", "must not be negative")
	}
	if c.ClassRuntimes < 0 {
		p.bad("class-runtimes", "must not be negative")
	}
	if c.MemoryLimit < 0 {
		p.bad("memory-limit", "must not be negative")
	}
	if c.MaxValueBytes > 0 && c.MaxBodyBytes > 0 && int64(c.MaxValueBytes) > c.MaxBodyBytes {
		p.bad("max-value-bytes", "%d is larger than --max-body-bytes %d", c.MaxValueBytes, c.MaxBodyBytes)
	}
	if c.MaxScriptBytes < 0 || c.MaxScriptBytes > MaxScriptBytesCap {
		p.bad("max-script-bytes", "must be between 0 (the default) and %d", MaxScriptBytesCap)
	}
	if c.MaxAnswerBytes < 0 {
		p.bad("max-answer-bytes", "must not be negative")
	}
}

// checkLogging checks the log's level and format, and the switches of
// known bugs.
func (c Config) checkLogging(p *problems) {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		p.bad("log-format", "%q: want json or text", c.LogFormat)
	}
	for _, b := range c.UnsafeBugs {
		switch b {
		case BugStaleReads, BugAckBeforeCommit, BugNoIdempotency:
		default:
			p.bad("unsafe-bug", "unknown bug %q: want %s, %s or %s", b, BugStaleReads, BugAckBeforeCommit, BugNoIdempotency)
		}
	}
	if len(c.UnsafeBugs) > 0 && !c.UnsafeAllowBugs {
		p.bad("unsafe-bug", "refused: it breaks correctness on purpose; add --unsafe-allow-bugs if you mean it")
	}
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

// checkListenAddr accepts host:port and :port (every interface).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("%q: %v", addr, err)
	}
	return nil
}

// checkHostPort accepts an address another node can dial: a --peers
// entry or an advertise address. 0.0.0.0 and :: are refused: a node
// dialling them reaches itself, not this one.
func checkHostPort(addr string) error {
	if err := checkListenAddr(addr); err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(addr); host == "" {
		return fmt.Errorf("%q: want an explicit host (e.g. 127.0.0.1), since it is published to other nodes", addr)
	}
	if !specificHost(addr) {
		return fmt.Errorf("%q is not an address other nodes can dial: give this node's IP or DNS name", addr)
	}
	return nil
}

// checkAdvertise checks the address published for the listen address
// given by listenFlag. An empty one is what defaultAdvertise could not
// fill: the listen address is on every interface.
func checkAdvertise(flagName, listenFlag, advertise, listen string) error {
	if advertise == "" {
		if checkListenAddr(listen) != nil {
			return nil // the listen address's own error says what is wrong
		}
		return fmt.Errorf("--%s %s listens on every interface; say how peers reach this node with --%s HOST:PORT", listenFlag, listen, flagName)
	}
	if err := checkHostPort(advertise); err != nil {
		return err
	}
	// Port 0 stands for the port bound, which is only right when the
	// listen address asks for any free port too (as tests do).
	if isPort0(advertise) && !isPort0(listen) {
		return fmt.Errorf("%q: port 0 cannot be dialled; give the port peers reach --%s %s on", advertise, listenFlag, listen)
	}
	return nil
}

// specificHost reports whether addr is host:port with a host other nodes
// can dial: not empty, 0.0.0.0 or :: (all of which mean every interface).
func specificHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}

func parsePort(port string) (int, error) {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// isPort0 reports whether addr is host:port with port 0 (any free port).
func isPort0(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := parsePort(port)
	return err == nil && n == 0
}

// checkSecurity checks the TLS and auth files, and refuses a port other
// hosts can reach without the credentials that guard it (checkExposure).
func (c Config) checkSecurity() []error {
	var p problems
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p.bad("tls-cert", "give --tls-cert and --tls-key together")
	}
	if n := countSet(c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA); n != 0 && n != 3 {
		p.bad("peer-tls-cert", "give all three of --peer-tls-cert, --peer-tls-key and --peer-tls-ca, or none")
	}
	for _, f := range []struct{ name, path string }{
		{"auth-file", c.AuthFile}, {"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}, {"tls-ca", c.TLSCA},
		{"peer-tls-cert", c.PeerTLSCert}, {"peer-tls-key", c.PeerTLSKey}, {"peer-tls-ca", c.PeerTLSCA},
	} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			p.bad(f.name, "cannot read %s: %v", f.path, err)
		} else {
			fh.Close()
		}
	}
	c.checkExposure(&p)
	return p
}

// checkExposure refuses, unless --insecure says the network itself is
// trusted, each listener other hosts can reach without what guards it: a
// node open to the network lets anyone write and change membership.
//   - The API needs --auth-file and --tls-cert.
//   - The Raft port needs --peer-tls-*: its peer service takes forwarded
//     writes, class deployments and calls, joins as a voter and raw Raft
//     RPCs from any peer, and --auth-file does not guard it.
//   - The profiler has no credentials at all: it shows the process's
//     memory, goroutines and command line, and can stall it with traces.
func (c Config) checkExposure(p *problems) {
	if c.Insecure {
		return
	}
	const trust = "or --insecure if the network itself is trusted"
	if !loopbackOnly(c.HTTPAddr) && (c.AuthFile == "" || c.TLSCert == "") {
		var missing []string
		if c.AuthFile == "" {
			missing = append(missing, "--auth-file (anyone who reaches the port could read, write and change membership)")
		}
		if c.TLSCert == "" {
			missing = append(missing, "--tls-cert/--tls-key (tokens and data would cross the network in the clear)")
		}
		p.bad("http-addr", "%s is reachable from other hosts, so serve refuses to start without %s; give them, %s",
			c.HTTPAddr, strings.Join(missing, " and "), trust)
	}
	if !loopbackOnly(c.RaftAddr) && !c.PeerTLS() {
		p.bad("raft-addr", "%s is reachable from other hosts, so serve refuses to start without --peer-tls-cert, --peer-tls-key and --peer-tls-ca "+
			"(anyone who reaches the port could deploy classes, run calls, join as a voter or send Raft RPCs, whatever --auth-file says); give them, %s",
			c.RaftAddr, trust)
	}
	if c.PprofAddr != "" && !loopbackOnly(c.PprofAddr) {
		p.bad("pprof-addr", "%s is reachable from other hosts, and the profiler asks for no credentials; listen on loopback (e.g. 127.0.0.1:6060), %s",
			c.PprofAddr, trust)
	}
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// loopbackOnly reports whether addr listens on loopback only (127.0.0.0/8,
// ::1 or localhost): only processes of this host can reach it.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
