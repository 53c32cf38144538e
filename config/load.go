package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/dobj/dobj/classes"
)

// EnvPrefix starts the name of every environment variable Load reads:
// --data-dir is DOBJ_DATA_DIR, --unsafe-bug is DOBJ_UNSAFE_BUG, and so on.
const EnvPrefix = "DOBJ_"

// EnvName is the environment variable that carries the flag called name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fileKey is the key of the flag called name in a --config JSON file.
func fileKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// Load reads the serve settings from args (flags, without the verb), then
// from getenv (DOBJ_* variables) for settings no flag gave, then from the
// JSON file named by --config (or DOBJ_CONFIG) for settings neither gave,
// and validates the result. The file's keys are the flag names with "_"
// for "-" ({"id":"n1","data_dir":"data/n1","peers":"n1=…"}). It returns
// flag.ErrHelp for -h/--help; print Usage then.
func Load(args []string, getenv func(string) string) (Config, error) {
	c, err := parse(args, getenv)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parse is Load without Validate: the settings from every source, with
// the defaults that depend on other settings filled in.
func parse(args []string, getenv func(string) string) (Config, error) {
	c := Default()
	fs := flagSet(&c)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (settings are flags: --name value)", fs.Arg(0))
	}
	given := map[string]bool{} // settings given by a flag or the environment
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %w", name, v, err))
			return
		}
		given[f.Name] = true
	})
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if c.File != "" {
		if err := loadFile(fs, c.File, given); err != nil {
			return Config{}, err
		}
	}

	// Defaults that depend on other settings.
	if c.DataDir == "" && c.ID != "" {
		c.DataDir = "data/" + c.ID
	}
	if !given["raft-addr"] {
		// The node's own --peers entry says where it listens.
		for _, p := range c.Peers {
			if p.ID == c.ID {
				c.RaftAddr = p.RaftAddr
			}
		}
	}
	c.defaultAdvertise()
	if c.Join != "" && !strings.Contains(c.Join, "://") {
		c.Join = "http://" + c.Join
	}
	return c, nil
}

// defaultAdvertise fills the advertise addresses not given: the listen
// address when its host is specific; for Raft on every interface, this
// node's --peers entry; for HTTP on every interface, the
// host peers reach the Raft transport at, with --http-addr's port (one
// host, two ports is the common case). What it cannot fill stays empty
// and Validate says which flag to set.
func (c *Config) defaultAdvertise() {
	if c.AdvertiseRaft == "" && specificHost(c.RaftAddr) {
		c.AdvertiseRaft = c.RaftAddr
	}
	if c.AdvertiseRaft == "" {
		// Raft on every interface: the others dial this node's --peers
		// entry, so that is where it is reached.
		for _, p := range c.Peers {
			if p.ID == c.ID && specificHost(p.RaftAddr) {
				c.AdvertiseRaft = p.RaftAddr
			}
		}
	}
	if c.AdvertiseHTTP != "" {
		return
	}
	if specificHost(c.HTTPAddr) {
		c.AdvertiseHTTP = c.HTTPAddr
		return
	}
	_, port, err := net.SplitHostPort(c.HTTPAddr)
	if err == nil && specificHost(c.AdvertiseRaft) {
		host, _, _ := net.SplitHostPort(c.AdvertiseRaft)
		c.AdvertiseHTTP = net.JoinHostPort(host, port)
	}
}

// loadFile sets, from the JSON object in path, every setting that is not
// in given yet.
func loadFile(fs *flag.FlagSet, path string, given map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config: %s: want a JSON object of settings: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("config: %s: unknown setting %q", path, k)
		}
		if given[name] {
			continue
		}
		vals, err := fileValues(m[k])
		if err != nil {
			return fmt.Errorf("config: %s: %s: %w", path, k, err)
		}
		for _, v := range vals {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("config: %s: %s: invalid value %q: %w", path, k, v, err)
			}
		}
	}
	return nil
}

// fileValues turns a JSON value into the flag values it stands for: a
// string as is, a number or boolean as its text, an array element by
// element (for settings that may repeat, like unsafe_bug).
func fileValues(raw json.RawMessage) ([]string, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case json.Number:
		return []string{v.String()}, nil
	case bool:
		return []string{fmt.Sprint(v)}, nil
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("want a string, number, boolean or array of strings")
	}
}

// Usage writes the serve settings, their defaults and where else they can
// come from.
func Usage(w io.Writer) {
	c := Default()
	fs := flagSet(&c)
	fs.SetOutput(w)
	fmt.Fprintf(w, "Usage: dobj serve --id ID [settings]\n\nSettings (flag, or env %sNAME, or key name in the --config JSON file; flags win, then env, then file):\n", EnvPrefix)
	fs.PrintDefaults()
}

// Flags returns the flag set of serve's settings, with their defaults, to
// list them (dobj serve --help).
func Flags() *flag.FlagSet {
	c := Default()
	return flagSet(&c)
}

// flagSet binds every setting of c to a flag. The flag names are the
// source of the environment and file names too.
func flagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.ID, "id", c.ID, "this node's id (required), e.g. n1")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the Raft log and snapshots (default data/<id>)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP API listen `address`; 0.0.0.0:PORT or :PORT listens on every interface")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "Raft listen `address` (default: this node's --peers entry, else 127.0.0.1:9081)")
	fs.StringVar(&c.AdvertiseHTTP, "advertise-http", c.AdvertiseHTTP, "`host:port` the other nodes reach the HTTP API at, published to them (default: --http-addr; if that is every interface, the host of --advertise-raft with --http-addr's port)")
	fs.StringVar(&c.HTTPHosts, "http-hosts", c.HTTPHosts, "more `names` the API answers to, comma-separated (a proxy's); without --auth-file a request naming another Host is refused (DNS rebinding)")
	fs.StringVar(&c.AdvertiseRaft, "advertise-raft", c.AdvertiseRaft, "`host:port` the other nodes reach Raft at, sent when joining; must match this node's --peers entry (default: --raft-addr; if that is every interface, the --peers entry)")
	fs.Var((*peersValue)(&c.Peers), "peers", "initial cluster `id=raftaddr,...`, the same on every node; bootstrapped once")
	fs.StringVar(&c.Join, "join", c.Join, "`URL` of any running node to join instead of --peers")
	fs.StringVar(&c.LogStore, "log-store", c.LogStore, "Raft log of a new data directory: wal (one fsync an append) or bolt (raft.db); a data directory keeps the log it has (default: that, else wal)")
	fs.IntVar(&c.WALSegmentBytes, "wal-segment-bytes", c.WALSegmentBytes, "size of each wal segment file (the log is freed a segment at a time)")
	fs.Int64Var(&c.SQLMaxDatabaseBytes, "sql-max-database-bytes", c.SQLMaxDatabaseBytes, "largest database of one SQLite-backed object (10 GB, as Cloudflare's); past it its writes fail, reads go on")
	fs.Int64Var(&c.SQLMaxResultBytes, "sql-max-result-bytes", c.SQLMaxResultBytes, "most bytes one SQL statement's result (or a key-value list) of a SQLite-backed object may hold in memory; past it the statement fails naming the limit")
	fs.IntVar(&c.SQLOpenDatabases, "sql-open-databases", c.SQLOpenDatabases, "most SQLite-backed objects' databases kept open (two open files each), the least recently used closed past it or past --sql-open-bytes")
	fs.Int64Var(&c.SQLOpenBytes, "sql-open-bytes", c.SQLOpenBytes, "most memory the open SQLite-backed objects' databases may hold, the least recently used closed past it (each is 0.5 MB freshly opened, about 4 times its largest row more once large rows have passed through it)")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", c.SnapshotThreshold, "log entries between snapshots")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", c.TrailingLogs, "log entries kept after a snapshot")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often to check whether to snapshot")
	fs.DurationVar(&c.ApplyTimeout, "apply-timeout", c.ApplyTimeout, "how long a write waits for commit before answering 504")
	fs.DurationVar(&c.IdempotencyWindow, "idempotency-window", c.IdempotencyWindow, "how long an Idempotency-Key is remembered")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body")
	fs.IntVar(&c.MaxNameBytes, "max-name-bytes", c.MaxNameBytes, "longest object name")
	fs.IntVar(&c.MaxKeyBytes, "max-key-bytes", c.MaxKeyBytes, "longest storage key")
	fs.IntVar(&c.MaxValueBytes, "max-value-bytes", c.MaxValueBytes, "largest storage value")
	fs.IntVar(&c.MaxListLimit, "max-list-limit", c.MaxListLimit, "most entries one list returns")
	fs.IntVar(&c.MaxTxnOps, "max-txn-ops", c.MaxTxnOps, "most ops (compares, success and failure ops) in one transaction")
	fs.IntVar(&c.MaxAnswerBytes, "max-answer-bytes", c.MaxAnswerBytes, "largest answer: a transaction that could answer more is refused (each get counted at --max-value-bytes), a list page stops before it (0: max-txn-ops × (max-value-bytes + max-key-bytes + 64))")
	fs.Int64Var(&c.MaxScriptBytes, "max-script-bytes", c.MaxScriptBytes, "largest script upload, PUT /_scripts/NAME (0: 4 MiB)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "requests served at once; past it a request is answered 429 with Retry-After")
	fs.DurationVar(&c.HTTPReadTimeout, "http-read-timeout", c.HTTPReadTimeout, "longest time to read a whole request")
	fs.DurationVar(&c.HTTPWriteTimeout, "http-write-timeout", c.HTTPWriteTimeout, "longest time from a request's headers to the end of its answer; raised to what the limits need (class-cpu-limit + 2 × apply-timeout + 10s)")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", c.HTTPIdleTimeout, "how long an idle keep-alive connection is kept")
	fs.StringVar(&c.AuthFile, "auth-file", c.AuthFile, "bearer tokens, one `file` line \"ROLE TOKEN\" (read, write or admin; # starts a comment); SIGHUP reloads it; empty: no authentication")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve the API over HTTPS with this certificate `file` (PEM; with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "the API certificate's private key `file` (PEM)")
	fs.StringVar(&c.TLSCA, "tls-ca", c.TLSCA, "CA `file` trusted for the API certificate of the node --join asks (default: --peer-tls-ca, else the system's roots)")
	fs.StringVar(&c.PeerTLSCert, "peer-tls-cert", c.PeerTLSCert, "this node's certificate `file` for mutual TLS with its peers (with --peer-tls-key and --peer-tls-ca)")
	fs.StringVar(&c.PeerTLSKey, "peer-tls-key", c.PeerTLSKey, "the peer certificate's private key `file`")
	fs.StringVar(&c.PeerTLSCA, "peer-tls-ca", c.PeerTLSCA, "the cluster's CA `file`: peers must present a certificate it signed")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "allow ports other hosts can reach without their credentials: an --http-addr without --auth-file and --tls-cert, a --raft-addr without --peer-tls-*, a --pprof-addr at all (anyone who reaches them can read, write and change membership)")
	fs.IntVar(&c.ClassMaxInstances, "class-max-instances", c.ClassMaxInstances, "class object instances kept in memory on the leader, least recently used dropped first (0: the runtime's default)")
	fs.Var((*hostPatternsValue)(&c.OutboundAllow), "outbound-allow", "`hosts` class code's fetch may reach, comma-separated: host, host:port, host:*, *.domain or * (default: none; fetch to any other host rejects with a TypeError)")
	fs.IntVar(&c.ClassRuntimes, "class-runtimes", c.ClassRuntimes, "JavaScript runtimes the objects of one class share on the leader: how many of its calls run JavaScript at once (0: the larger of 4 and the CPUs)")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft limit on the node's memory in bytes: nearing it, Go collects garbage more often rather than grow (0: GOMEMLIMIT's, else none)")
	fs.DurationVar(&c.ClassCPULimit, "class-cpu-limit", c.ClassCPULimit, "JavaScript time one class call may take before it is stopped (500, nothing committed)")
	fs.IntVar(&c.WatchHistory, "watch-history", c.WatchHistory, "changes kept for watches to resume from (older resumes get 410)")
	fs.Int64Var(&c.WatchHistoryBytes, "watch-history-bytes", c.WatchHistoryBytes, "bytes of changes kept for watches to resume from")
	fs.IntVar(&c.WatchBuffer, "watch-buffer", c.WatchBuffer, "events one watcher may have waiting before it is cut off to resume")
	fs.IntVar(&c.MaxWatches, "max-watches", c.MaxWatches, "watch streams open at once on this node; more are refused with 503")
	fs.IntVar(&c.MaxStreamsPerToken, "max-streams-per-token", c.MaxStreamsPerToken, "watches and WebSockets one token may hold open on this node; more are refused with 429 (with --auth-file)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text (default: text when the log goes to a terminal, json otherwise)")
	fs.StringVar(&c.LogFile, "log-file", c.LogFile, "append the log to this `file` instead of stderr; GET /_cluster/status names it")
	fs.StringVar(&c.WorkerAddr, "worker-addr", c.WorkerAddr, "serve the deployed scripts' Workers on this `address` (off when empty): each request runs the Worker of the script it routes to")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "serve Go's /debug/pprof on this `address` (off when empty); for profiling")
	fs.BoolVar(&c.TestFaults, "test-faults", c.TestFaults, "enable fault injection (POST /_test/partition); tests only")
	fs.Var((*bugsValue)(&c.UnsafeBugs), "unsafe-bug", "switch on a known `bug` (stale-reads, ack-before-commit, no-idempotency); repeatable; needs --unsafe-allow-bugs")
	fs.BoolVar(&c.UnsafeAllowBugs, "unsafe-allow-bugs", c.UnsafeAllowBugs, "allow --unsafe-bug; the node then LOSES correctness on purpose")
	fs.StringVar(&c.File, "config", c.File, "JSON `file` of settings, read after flags and env")
	return fs
}

// peersValue is --peers: "n1=127.0.0.1:9081,n2=127.0.0.1:9082".
type peersValue []Peer

func (p *peersValue) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, peer := range *p {
		parts[i] = peer.ID + "=" + peer.RaftAddr
	}
	return strings.Join(parts, ",")
}

func (p *peersValue) Set(s string) error {
	peers, err := ParsePeers(s)
	if err != nil {
		return err
	}
	*p = peers
	return nil
}

// ParsePeers parses "n1=127.0.0.1:9081,n2=127.0.0.1:9082". Every entry
// needs an id and a host:port; ids and addresses may not repeat.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, addr, ok := strings.Cut(entry, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("entry %q: want id=host:port", entry)
		}
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		if ids[id] {
			return nil, fmt.Errorf("id %q appears twice", id)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("address %q appears twice", addr)
		}
		ids[id], addrs[addr] = true, true
		peers = append(peers, Peer{ID: id, RaftAddr: addr})
	}
	if len(peers) == 0 {
		return nil, errors.New("no entries; want id=host:port,...")
	}
	return peers, nil
}

// bugsValue is --unsafe-bug, repeatable, and comma-separated for the
// environment variable.
type bugsValue []string

func (b *bugsValue) String() string {
	if b == nil {
		return ""
	}
	return strings.Join(*b, ",")
}

func (b *bugsValue) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*b = append(*b, name)
		}
	}
	return nil
}

// hostPatternsValue is --outbound-allow: "api.example.com,*.example.org,
// 127.0.0.1:*"; each pattern is checked as it is given.
type hostPatternsValue []string

func (h *hostPatternsValue) String() string {
	if h == nil {
		return ""
	}
	return strings.Join(*h, ",")
}

func (h *hostPatternsValue) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := classes.CheckHostPattern(p); err != nil {
			return err
		}
		*h = append(*h, p)
	}
	return nil
}
