package config

import (
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/classes"
	"github.com/dobj/dobj/objects"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	httpAddr, raftAddr := freeAddr(t), freeAddr(t)
	other := freeAddr(t)
	peers := "n1=" + raftAddr + ",n2=" + other
	base := func(dir string) []string {
		return []string{"--id", "n1", "--data-dir", dir, "--http-addr", httpAddr, "--raft-addr", raftAddr}
	}

	tests := []struct {
		name    string
		args    func(dir string) []string
		env     map[string]string
		file    string // JSON written to dir/dobj.json and passed with --config
		wantErr string // substring; "" means success
		check   func(t *testing.T, c Config, dir string)
	}{
		{
			name: "defaults",
			args: base,
			check: func(t *testing.T, c Config, dir string) {
				want := Default()
				want.ID, want.DataDir, want.HTTPAddr, want.RaftAddr = "n1", dir, httpAddr, raftAddr
				want.AdvertiseHTTP, want.AdvertiseRaft = httpAddr, raftAddr
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
				if c.SnapshotThreshold != 8192 || c.TrailingLogs != 10240 || c.ApplyTimeout != 5*time.Second ||
					c.IdempotencyWindow != 10*time.Minute || c.MaxBodyBytes != 1<<20 || c.MaxNameBytes != 256 ||
					c.MaxKeyBytes != 2048 || c.MaxValueBytes != 128<<10 || c.MaxListLimit != 1000 || c.SQLMaxDatabaseBytes != 10<<30 || c.SQLMaxResultBytes != 64<<20 || c.SQLOpenDatabases != 4096 || c.SQLOpenBytes != 640<<20 {
					t.Errorf("defaults differ from the contract: %+v", c)
				}
			},
		},
		{
			name: "every flag",
			args: func(dir string) []string {
				return append(base(dir), "--peers", "n1=node1.example:9081,n2="+other,
					"--advertise-http", "node1.example:8081", "--http-hosts", "a.example, b.example", "--advertise-raft", "node1.example:9081",
					"--log-store", "bolt", "--wal-segment-bytes", "1048576", "--sql-max-database-bytes", "1048576", "--sql-max-result-bytes", "2097152", "--sql-open-databases", "5", "--sql-open-bytes", "8388608", "--snapshot-threshold", "16", "--trailing-logs", "8",
					"--snapshot-interval", "2s", "--apply-timeout", "3s", "--idempotency-window", "1m",
					"--max-body-bytes", "4096", "--max-name-bytes", "10", "--max-key-bytes", "20", "--max-value-bytes", "30",
					"--max-list-limit", "5", "--watch-history", "50", "--watch-history-bytes", "4096", "--watch-buffer", "8", "--max-watches", "9", "--max-streams-per-token", "4", "--class-cpu-limit", "2s", "--class-max-instances", "64", "--class-runtimes", "3", "--outbound-allow", "api.example.com, *.example.org,127.0.0.1:*", "--memory-limit", "1073741824", "--log-level", "debug", "--log-format", "text", "--test-faults",
					"--unsafe-bug", "stale-reads", "--unsafe-bug=no-idempotency", "--unsafe-allow-bugs",
					"--max-txn-ops", "8", "--max-answer-bytes", "999", "--max-in-flight", "3", "--max-script-bytes", "8192",
					"--http-read-timeout", "4s", "--http-write-timeout", "7s", "--http-idle-timeout", "9s",
					"--auth-file", touch(t, dir, "tokens"), "--tls-cert", touch(t, dir, "api.crt"), "--tls-key", touch(t, dir, "api.key"),
					"--tls-ca", touch(t, dir, "api-ca.crt"), "--peer-tls-cert", touch(t, dir, "n1.crt"), "--peer-tls-key", touch(t, dir, "n1.key"),
					"--peer-tls-ca", touch(t, dir, "ca.crt"), "--insecure")
			},
			check: func(t *testing.T, c Config, dir string) {
				want := Config{ID: "n1", DataDir: dir, HTTPAddr: httpAddr, RaftAddr: raftAddr,
					AdvertiseHTTP: "node1.example:8081", HTTPHosts: "a.example, b.example", AdvertiseRaft: "node1.example:9081",
					Peers:    []Peer{{"n1", "node1.example:9081"}, {"n2", other}},
					LogStore: "bolt", WALSegmentBytes: 1 << 20, SQLMaxDatabaseBytes: 1 << 20, SQLMaxResultBytes: 2 << 20, SQLOpenDatabases: 5, SQLOpenBytes: 8 << 20, SnapshotThreshold: 16, TrailingLogs: 8, SnapshotInterval: 2 * time.Second, ApplyTimeout: 3 * time.Second,
					IdempotencyWindow: time.Minute, MaxBodyBytes: 4096, MaxNameBytes: 10, MaxKeyBytes: 20, MaxValueBytes: 30,
					MaxListLimit: 5, WatchHistory: 50, WatchHistoryBytes: 4096, WatchBuffer: 8, MaxWatches: 9, MaxStreamsPerToken: 4, ClassCPULimit: 2 * time.Second, ClassMaxInstances: 64, ClassRuntimes: 3, OutboundAllow: []string{"api.example.com", "*.example.org", "127.0.0.1:*"}, MemoryLimit: 1 << 30, LogLevel: "debug", LogFormat: "text", TestFaults: true,
					UnsafeBugs: []string{"stale-reads", "no-idempotency"}, UnsafeAllowBugs: true,
					MaxTxnOps: 8, MaxAnswerBytes: 999, MaxInFlight: 3, MaxScriptBytes: 8192,
					HTTPReadTimeout: 4 * time.Second, HTTPWriteTimeout: 7 * time.Second, HTTPIdleTimeout: 9 * time.Second,
					AuthFile: dir + "/tokens", TLSCert: dir + "/api.crt", TLSKey: dir + "/api.key", TLSCA: dir + "/api-ca.crt",
					PeerTLSCert: dir + "/n1.crt", PeerTLSKey: dir + "/n1.key", PeerTLSCA: dir + "/ca.crt", Insecure: true}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "env fills what flags leave out",
			args: func(dir string) []string { return []string{"--id", "n1"} },
			env: map[string]string{"DOBJ_ID": "ignored", "DOBJ_HTTP_ADDR": httpAddr, "DOBJ_RAFT_ADDR": raftAddr,
				"DOBJ_ADVERTISE_HTTP": "node1.example:8081",
				"DOBJ_APPLY_TIMEOUT":  "7s", "DOBJ_TEST_FAULTS": "true", "DOBJ_PEERS": peers,
				"DOBJ_UNSAFE_BUG": "stale-reads,ack-before-commit", "DOBJ_UNSAFE_ALLOW_BUGS": "1"},
			check: func(t *testing.T, c Config, dir string) {
				if c.ID != "n1" || c.HTTPAddr != httpAddr || c.RaftAddr != raftAddr || c.ApplyTimeout != 7*time.Second ||
					c.AdvertiseHTTP != "node1.example:8081" || c.AdvertiseRaft != raftAddr ||
					!c.TestFaults || len(c.Peers) != 2 || !reflect.DeepEqual(c.UnsafeBugs, []string{"stale-reads", "ack-before-commit"}) {
					t.Errorf("got %+v", c)
				}
				if c.DataDir != "data/n1" {
					t.Errorf("DataDir = %q, want the default data/n1", c.DataDir)
				}
			},
		},
		{
			name: "file fills what flags and env leave out",
			args: func(dir string) []string { return []string{"--id", "n1", "--data-dir", dir} },
			env:  map[string]string{"DOBJ_HTTP_ADDR": httpAddr, "DOBJ_MAX_KEY_BYTES": "99"},
			file: `{"id":"n9","http_addr":"127.0.0.1:1","raft_addr":"` + raftAddr + `","advertise_raft":"node1.example:9081",
				"max_key_bytes":5,"max_list_limit":7,
				"test_faults":true,"snapshot_interval":"1s","unsafe_bug":["stale-reads"],"unsafe_allow_bugs":true,"join":"` + other + `"}`,
			check: func(t *testing.T, c Config, dir string) {
				if c.ID != "n1" || c.HTTPAddr != httpAddr || c.RaftAddr != raftAddr || c.MaxKeyBytes != 99 ||
					c.AdvertiseRaft != "node1.example:9081" || c.AdvertiseHTTP != httpAddr ||
					c.MaxListLimit != 7 || !c.TestFaults || c.SnapshotInterval != time.Second ||
					!reflect.DeepEqual(c.UnsafeBugs, []string{"stale-reads"}) || c.Join != "http://"+other {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "own peers entry is the default raft address",
			args: func(dir string) []string {
				return []string{"--id", "n2", "--data-dir", dir, "--http-addr", httpAddr, "--peers", peers}
			},
			check: func(t *testing.T, c Config, dir string) {
				if c.RaftAddr != other || c.AdvertiseRaft != other {
					t.Errorf("RaftAddr, AdvertiseRaft = %q, %q, want %q for both", c.RaftAddr, c.AdvertiseRaft, other)
				}
			},
		},
		{name: "missing id", args: func(dir string) []string { return base(dir)[2:] }, wantErr: "--id: required"},
		{name: "bad id", args: func(dir string) []string { return append(base(dir), "--id", "n 1") }, wantErr: "--id:"},
		{name: "peers without =", args: func(dir string) []string { return append(base(dir), "--peers", "n1") }, wantErr: "-peers"},
		{name: "peers bad address", args: func(dir string) []string { return append(base(dir), "--peers", "n1=localhost") }, wantErr: "-peers"},
		{name: "peers duplicate id", args: func(dir string) []string {
			return append(base(dir), "--peers", "n1="+raftAddr+",n1="+other)
		}, wantErr: "appears twice"},
		{name: "peers without own id", args: func(dir string) []string {
			return append(base(dir), "--peers", "n2="+other)
		}, wantErr: `--peers: this node's id "n1" is not in the list`},
		{name: "peers disagree with raft-addr", args: func(dir string) []string {
			return append(base(dir), "--peers", "n1="+other)
		}, wantErr: "--peers: this node's entry says"},
		{name: "peers and join", args: func(dir string) []string {
			return append(base(dir), "--peers", peers, "--join", "http://"+other)
		}, wantErr: "--join: give either"},
		{name: "join not a URL", args: func(dir string) []string { return append(base(dir), "--join", "ftp://x") }, wantErr: "--join:"},
		{name: "bug without allow", args: func(dir string) []string { return append(base(dir), "--unsafe-bug", "stale-reads") }, wantErr: "--unsafe-bug: refused"},
		{name: "unknown bug", args: func(dir string) []string {
			return append(base(dir), "--unsafe-bug", "nope", "--unsafe-allow-bugs")
		}, wantErr: `--unsafe-bug: unknown bug "nope"`},
		{name: "zero limit", args: func(dir string) []string { return append(base(dir), "--max-key-bytes", "0") }, wantErr: "--max-key-bytes: must be positive"},
		{name: "negative runtimes", args: func(dir string) []string { return append(base(dir), "--class-runtimes", "-1") }, wantErr: "--class-runtimes: must not be negative"},
		{name: "script uploads past the cap", args: func(dir string) []string { return append(base(dir), "--max-script-bytes", "67108865") }, wantErr: "--max-script-bytes: must be between 0 (the default) and 67108864"},
		{name: "negative memory limit", args: func(dir string) []string { return append(base(dir), "--memory-limit", "-1") }, wantErr: "--memory-limit: must not be negative"},
		{name: "bad duration", args: func(dir string) []string { return append(base(dir), "--apply-timeout", "soon") }, wantErr: "-apply-timeout"},
		{name: "no open SQL databases", args: func(dir string) []string { return append(base(dir), "--sql-open-databases", "0") }, wantErr: "--sql-open-databases: must be positive"},
		{name: "tiny SQL pool", args: func(dir string) []string { return append(base(dir), "--sql-open-bytes", "4096") }, wantErr: "--sql-open-bytes: 4096: want at least 1 MiB"},
		{name: "tiny SQL databases", args: func(dir string) []string { return append(base(dir), "--sql-max-database-bytes", "4096") }, wantErr: "--sql-max-database-bytes: 4096: want at least 64 KiB"},
		{name: "tiny SQL results", args: func(dir string) []string { return append(base(dir), "--sql-max-result-bytes", "4096") }, wantErr: "--sql-max-result-bytes: 4096: want at least 64 KiB"},
		{name: "tiny wal segments", args: func(dir string) []string { return append(base(dir), "--wal-segment-bytes", "4096") }, wantErr: "--wal-segment-bytes: 4096: want 64 KiB to 1 GiB"},
		{name: "unknown log store", args: func(dir string) []string { return append(base(dir), "--log-store", "sqlite") }, wantErr: `--log-store: "sqlite": want wal or bolt`},
		{name: "bad log level", args: func(dir string) []string { return append(base(dir), "--log-level", "loud") }, wantErr: "--log-level"},
		{name: "same address twice", args: func(dir string) []string { return append(base(dir), "--raft-addr", httpAddr) }, wantErr: "is also --http-addr"},
		{name: "address without port", args: func(dir string) []string { return append(base(dir), "--http-addr", "127.0.0.1") }, wantErr: "--http-addr:"},
		{name: "stray argument", args: func(dir string) []string { return append(base(dir), "extra") }, wantErr: `unexpected argument "extra"`},
		{name: "unknown flag", args: func(dir string) []string { return append(base(dir), "--nope") }, wantErr: "-nope"},
		{name: "bad env value", args: base, env: map[string]string{"DOBJ_SNAPSHOT_THRESHOLD": "many"}, wantErr: "DOBJ_SNAPSHOT_THRESHOLD"},
		{name: "unknown file key", args: base, file: `{"data-dirr":"x"}`, wantErr: `unknown setting "data-dirr"`},
		{name: "file not an object", args: base, file: `[1]`, wantErr: "want a JSON object"},
		{name: "file bad value", args: base, file: `{"max_list_limit":"lots"}`, wantErr: "max_list_limit: invalid value"},
		{name: "missing file", args: func(dir string) []string {
			return append(base(dir), "--config", filepath.Join(dir, "absent.json"))
		}, wantErr: "config:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // a default data/<id> lands in a temporary directory
			dir := t.TempDir()
			args := tt.args(dir)
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "dobj.json")
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
			}
			c, err := Load(args, envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			c.File = ""
			tt.check(t, c, dir)
		})
	}
}

// TestLoadAdvertise covers the addresses published to the other nodes:
// how they default from the listen addresses, and the settings refused
// because another host could not dial what would be published.
func TestLoadAdvertise(t *testing.T) {
	_, hp, _ := net.SplitHostPort(freeAddr(t))
	_, rp, _ := net.SplitHostPort(freeAddr(t))
	tests := []struct {
		name     string
		args     []string // after --id n1 --data-dir DIR --http-addr 127.0.0.1:hp --raft-addr 127.0.0.1:rp
		wantHTTP string
		wantRaft string
		wantErrs []string // substrings; none means success
	}{
		{name: "specific listen addresses are advertised as they are",
			wantHTTP: "127.0.0.1:" + hp, wantRaft: "127.0.0.1:" + rp},
		{name: "flags win", args: []string{"--http-addr", "0.0.0.0:" + hp, "--raft-addr", "0.0.0.0:" + rp,
			"--advertise-http", "api.example:443", "--advertise-raft", "raft.example:9081"},
			wantHTTP: "api.example:443", wantRaft: "raft.example:9081"},
		{name: "http on 0.0.0.0 takes the raft host", args: []string{"--http-addr", "0.0.0.0:" + hp},
			wantHTTP: "127.0.0.1:" + hp, wantRaft: "127.0.0.1:" + rp},
		{name: "http on :port takes the raft host", args: []string{"--http-addr", ":" + hp},
			wantHTTP: "127.0.0.1:" + hp, wantRaft: "127.0.0.1:" + rp},
		{name: "http on 0.0.0.0 takes the advertised raft host", args: []string{"--http-addr", "0.0.0.0:" + hp,
			"--raft-addr", "0.0.0.0:" + rp, "--advertise-raft", "10.0.0.1:9081", "--peers", "n1=10.0.0.1:9081,n2=10.0.0.2:9081"},
			wantHTTP: "10.0.0.1:" + hp, wantRaft: "10.0.0.1:9081"},
		{name: "raft on 0.0.0.0 takes its peers entry, http its host", args: []string{"--http-addr", "0.0.0.0:" + hp,
			"--raft-addr", "0.0.0.0:" + rp, "--peers", "n1=10.0.0.1:9081,n2=10.0.0.2:9081"},
			wantHTTP: "10.0.0.1:" + hp, wantRaft: "10.0.0.1:9081"},
		{name: "listen port 0 advertises port 0, the port bound", args: []string{"--http-addr", "0.0.0.0:0", "--raft-addr", "127.0.0.1:0"},
			wantHTTP: "127.0.0.1:0", wantRaft: "127.0.0.1:0"},
		{name: "advertise port 0 with listen port 0", args: []string{"--http-addr", "0.0.0.0:0", "--advertise-http", "localhost:0"},
			wantHTTP: "localhost:0", wantRaft: "127.0.0.1:" + rp},

		{name: "everything on every interface", args: []string{"--http-addr", "0.0.0.0:8081", "--raft-addr", ":9081"},
			wantErrs: []string{
				"--advertise-http: --http-addr 0.0.0.0:8081 listens on every interface; say how peers reach this node with --advertise-http HOST:PORT",
				"--advertise-raft: --raft-addr :9081 listens on every interface; say how peers reach this node with --advertise-raft HOST:PORT"}},
		{name: "raft on every interface", args: []string{"--raft-addr", "0.0.0.0:9081"},
			wantErrs: []string{"--advertise-raft: --raft-addr 0.0.0.0:9081 listens on every interface; say how peers reach this node with --advertise-raft HOST:PORT"}},
		{name: "advertise 0.0.0.0", args: []string{"--advertise-http", "0.0.0.0:8081"},
			wantErrs: []string{`--advertise-http: "0.0.0.0:8081" is not an address other nodes can dial: give this node's IP or DNS name`}},
		{name: "advertise ::", args: []string{"--advertise-raft", "[::]:9081"},
			wantErrs: []string{`--advertise-raft: "[::]:9081" is not an address other nodes can dial`}},
		{name: "advertise without host", args: []string{"--advertise-http", ":8081"},
			wantErrs: []string{`--advertise-http: ":8081": want an explicit host`}},
		{name: "advertise without port", args: []string{"--advertise-raft", "raft.example"},
			wantErrs: []string{`--advertise-raft: "raft.example": want host:port`}},
		{name: "advertise port 0 with a fixed listen port", args: []string{"--advertise-http", "127.0.0.1:0"},
			wantErrs: []string{`--advertise-http: "127.0.0.1:0": port 0 cannot be dialled; give the port peers reach --http-addr 127.0.0.1:` + hp + " on"}},
		{name: "own peers entry is not the advertised raft address", args: []string{"--advertise-raft", "10.0.0.1:9081",
			"--peers", "n1=10.0.0.9:9081"},
			wantErrs: []string{"--peers: this node's entry says 10.0.0.9:9081 but --advertise-raft (default --raft-addr) is 10.0.0.1:9081"}},
		{name: "peers entry on every interface", args: []string{"--peers", "n1=0.0.0.0:" + rp},
			wantErrs: []string{`"0.0.0.0:` + rp + `" is not an address other nodes can dial`}},
		{name: "http defaults onto the raft address", args: []string{"--http-addr", ":" + rp},
			wantErrs: []string{"--advertise-raft: 127.0.0.1:" + rp + " is also --advertise-http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--id", "n1", "--data-dir", t.TempDir(),
				"--http-addr", "127.0.0.1:" + hp, "--raft-addr", "127.0.0.1:" + rp}, tt.args...)
			// The values only: Validate would also try to listen on
			// 0.0.0.0, and tests keep to loopback.
			c, err := parse(args, envOf(nil))
			if err == nil {
				err = errors.Join(c.checkValues()...)
			}
			if len(tt.wantErrs) > 0 {
				for _, want := range tt.wantErrs {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("Load error = %v, want one containing %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.AdvertiseHTTP != tt.wantHTTP || c.AdvertiseRaft != tt.wantRaft {
				t.Errorf("advertised %q, %q; want %q, %q", c.AdvertiseHTTP, c.AdvertiseRaft, tt.wantHTTP, tt.wantRaft)
			}
		})
	}
}

func TestSpecificHost(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "10.0.0.1:1": true, "[::1]:1": true, "node.example:1": true, "localhost:0": true,
		"0.0.0.0:1": false, "[::]:1": false, "[0:0::0]:1": false, ":1": false, "no-port": false,
	} {
		if got := specificHost(addr); got != want {
			t.Errorf("specificHost(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestLoadHelp(t *testing.T) {
	if _, err := Load([]string{"--help"}, envOf(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(--help) = %v, want flag.ErrHelp", err)
	}
	var b strings.Builder
	Usage(&b)
	for _, want := range []string{"-peers", "-unsafe-allow-bugs", "DOBJ_", "-advertise-http host:port", "-advertise-raft host:port"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Usage lacks %q:\n%s", want, b.String())
		}
	}
}

func TestLoadChecksTheMachine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"http address in use", []string{"--http-addr", busy.Addr().String()}, "--http-addr: cannot listen on " + busy.Addr().String()},
		{"raft address in use", []string{"--raft-addr", busy.Addr().String()}, "--raft-addr: cannot listen on " + busy.Addr().String()},
		{"data dir is a file", []string{"--data-dir", file}, "--data-dir: " + file + " is not usable"},
		{"data dir under a file", []string{"--data-dir", filepath.Join(file, "sub")}, "--data-dir:"},
	}
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name    string
			args    []string
			wantErr string
		}{"read-only data dir", []string{"--data-dir", ro}, "--data-dir: " + ro + " is not usable"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--id", "n1", "--data-dir", t.TempDir(), "--http-addr", freeAddr(t), "--raft-addr", freeAddr(t)}, tt.args...)
			_, err := Load(args, envOf(nil))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	t.Run("data dir is created and left clean", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "n1")
		if _, err := Load([]string{"--id", "n1", "--data-dir", dir, "--http-addr", freeAddr(t), "--raft-addr", freeAddr(t)}, envOf(nil)); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("probe left files behind: %v", entries)
		}
	})
}

func TestParsePeers(t *testing.T) {
	tests := []struct {
		in      string
		want    []Peer
		wantErr bool
	}{
		{"n1=127.0.0.1:9081", []Peer{{"n1", "127.0.0.1:9081"}}, false},
		{"n1=127.0.0.1:9081, n2=h2:9082,", []Peer{{"n1", "127.0.0.1:9081"}, {"n2", "h2:9082"}}, false},
		{"", nil, true},
		{"n1", nil, true},
		{"=127.0.0.1:9081", nil, true},
		{"n1=", nil, true},
		{"n1=127.0.0.1", nil, true},
		{"n1=127.0.0.1:9081,n2=127.0.0.1:9081", nil, true},
		{"n/1=127.0.0.1:9081", nil, true},
		{"n1=0.0.0.0:9081", nil, true},
		{"n1=[::]:9081", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePeers(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePeers(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePeers(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// touch creates an empty file name in dir and returns its path.
func touch(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecureByDefault: an API other hosts can reach needs auth and TLS,
// or --insecure; TLS and peer TLS files come in whole sets.
func TestSecureByDefault(t *testing.T) {
	dir := t.TempDir()
	tokens, cert, key, ca := touch(t, dir, "tokens"), touch(t, dir, "c.crt"), touch(t, dir, "c.key"), touch(t, dir, "ca.crt")
	tests := []struct {
		name    string
		cfg     func(c *Config)
		wantErr string
	}{
		{"loopback needs nothing", func(c *Config) { c.HTTPAddr = "127.0.0.1:8081" }, ""},
		{"localhost needs nothing", func(c *Config) { c.HTTPAddr = "localhost:8081" }, ""},
		{"ipv6 loopback needs nothing", func(c *Config) { c.HTTPAddr = "[::1]:8081" }, ""},
		{"every interface is refused", func(c *Config) { c.HTTPAddr = "0.0.0.0:8081" }, "--http-addr: 0.0.0.0:8081 is reachable from other hosts, so serve refuses to start without --auth-file"},
		{"empty host is refused", func(c *Config) { c.HTTPAddr = ":8081" }, "without --auth-file"},
		{"auth alone is not enough", func(c *Config) { c.HTTPAddr, c.AuthFile = "10.0.0.1:8081", tokens }, "without --tls-cert/--tls-key"},
		{"tls alone is not enough", func(c *Config) { c.HTTPAddr, c.TLSCert, c.TLSKey = "10.0.0.1:8081", cert, key }, "without --auth-file"},
		{"auth and tls", func(c *Config) { c.HTTPAddr, c.AuthFile, c.TLSCert, c.TLSKey = "0.0.0.0:8081", tokens, cert, key }, ""},
		{"insecure", func(c *Config) { c.HTTPAddr, c.Insecure = "0.0.0.0:8081", true }, ""},
		{"cert without key", func(c *Config) { c.TLSCert = cert }, "--tls-cert: give --tls-cert and --tls-key together"},
		{"two of three peer files", func(c *Config) { c.PeerTLSCert, c.PeerTLSKey = cert, key }, "all three of --peer-tls-cert"},
		{"all three peer files", func(c *Config) { c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA = cert, key, ca }, ""},
		{"missing auth file", func(c *Config) { c.AuthFile = filepath.Join(dir, "nope") }, "--auth-file: cannot read"},

		{"raft on loopback needs nothing", func(c *Config) { c.RaftAddr = "127.0.0.1:9081" }, ""},
		{"raft on localhost needs nothing", func(c *Config) { c.RaftAddr = "localhost:9081" }, ""},
		{"raft on every interface is refused", func(c *Config) { c.RaftAddr = "0.0.0.0:9081" },
			"--raft-addr: 0.0.0.0:9081 is reachable from other hosts, so serve refuses to start without --peer-tls-cert, --peer-tls-key and --peer-tls-ca"},
		{"raft on a host address is refused", func(c *Config) { c.RaftAddr = "10.0.0.1:9081" }, "whatever --auth-file says"},
		{"raft on an empty host is refused", func(c *Config) { c.RaftAddr = ":9081" }, "--raft-addr: :9081 is reachable"},
		{"raft exposed, api secured: still refused", func(c *Config) {
			c.HTTPAddr, c.AuthFile, c.TLSCert, c.TLSKey, c.RaftAddr = "0.0.0.0:8081", tokens, cert, key, "0.0.0.0:9081"
		}, "--raft-addr"},
		{"raft with peer tls", func(c *Config) {
			c.RaftAddr, c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA = "0.0.0.0:9081", cert, key, ca
		}, ""},
		{"raft insecure", func(c *Config) { c.RaftAddr, c.Insecure = "0.0.0.0:9081", true }, ""},
		{"pprof on loopback", func(c *Config) { c.PprofAddr = "127.0.0.1:6060" }, ""},
		{"pprof on every interface is refused", func(c *Config) { c.PprofAddr = ":6060" },
			"--pprof-addr: :6060 is reachable from other hosts, and the profiler asks for no credentials"},
		{"pprof refused even with every credential", func(c *Config) {
			c.PprofAddr, c.AuthFile, c.TLSCert, c.TLSKey, c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA = "10.0.0.1:6060", tokens, cert, key, cert, key, ca
		}, "--pprof-addr"},
		{"pprof insecure", func(c *Config) { c.PprofAddr, c.Insecure = "0.0.0.0:6060", true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.HTTPAddr, c.RaftAddr = "127.0.0.1:8081", "127.0.0.1:9081"
			tt.cfg(&c)
			err := errors.Join(c.checkSecurity()...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestDefaultsAreTheEnforcers: serve's defaults for the limits are the
// ones the packages enforcing them take for a zero setting, so that a
// node configured by flags and one built in a test agree.
func TestDefaultsAreTheEnforcers(t *testing.T) {
	d := Default()
	lim := objects.Limits{}.WithDefaults()
	eng := classes.Config{}.WithDefaults()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"max-name-bytes", d.MaxNameBytes, lim.MaxNameBytes},
		{"max-key-bytes", d.MaxKeyBytes, lim.MaxKeyBytes},
		{"max-value-bytes", d.MaxValueBytes, lim.MaxValueBytes},
		{"max-txn-ops", d.MaxTxnOps, lim.MaxOps},
		{"class-cpu-limit", d.ClassCPULimit, eng.CPULimit},
		{"class key bytes", eng.MaxKeyBytes, lim.MaxKeyBytes},
		{"class value bytes", eng.MaxValueBytes, lim.MaxValueBytes},
	} {
		if c.got != c.want {
			t.Errorf("%s: default %v, the enforcing package's %v", c.name, c.got, c.want)
		}
	}
}

// TestWriteTimeoutFollowsTheLimits: the write timeout in force leaves
// every request, a class call running to the CPU limit included, time to
// write its answer after its own deadline; a larger configured one stays.
func TestWriteTimeoutFollowsTheLimits(t *testing.T) {
	tests := []struct {
		name                string
		cpu, apply, write   time.Duration
		wantCall, wantWrite time.Duration
	}{
		{"defaults", 30 * time.Second, 5 * time.Second, 30 * time.Second, 45 * time.Second, 50 * time.Second},
		{"a longer cpu limit raises it", 2 * time.Minute, 5 * time.Second, 30 * time.Second, 135 * time.Second, 140 * time.Second},
		{"a larger configured one stays", 30 * time.Second, 5 * time.Second, 5 * time.Minute, 45 * time.Second, 5 * time.Minute},
		{"short calls: the request timeout rules", time.Second, time.Second, time.Second, 8 * time.Second, 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.ClassCPULimit, c.ApplyTimeout, c.HTTPWriteTimeout = tt.cpu, tt.apply, tt.write
			if got := c.CallTimeout(); got != tt.wantCall {
				t.Errorf("CallTimeout = %v, want %v", got, tt.wantCall)
			}
			w := c.WriteTimeout()
			if w != tt.wantWrite {
				t.Errorf("WriteTimeout = %v, want %v", w, tt.wantWrite)
			}
			if w <= c.CallTimeout() || w <= c.RequestTimeout() {
				t.Errorf("WriteTimeout %v does not outlast the call (%v) and request (%v) deadlines", w, c.CallTimeout(), c.RequestTimeout())
			}
		})
	}
}

func TestHostNames(t *testing.T) {
	c := Config{HTTPAddr: "0.0.0.0:8081", AdvertiseHTTP: "10.0.0.1:8081", HTTPHosts: " dobj.example ,,proxy.example:443"}
	want := []string{"0.0.0.0:8081", "10.0.0.1:8081", "dobj.example", "proxy.example:443"}
	if got := c.HostNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("HostNames = %q, want %q", got, want)
	}
}

func TestOutboundAllowPatterns(t *testing.T) {
	for _, p := range []string{"api.example.com", "*.example.org", "127.0.0.1:*", "h:8080", "[::1]:*", "::1", "*"} {
		var v hostPatternsValue
		if err := v.Set(p); err != nil || len(v) != 1 {
			t.Errorf("--outbound-allow %s: %v", p, err)
		}
	}
	for _, p := range []string{"http://h", "h:0", "h:x", "a.*.b", "h/p", "*.", "*:*"} {
		var v hostPatternsValue
		if err := v.Set(p); err == nil {
			t.Errorf("--outbound-allow %s was accepted", p)
		}
	}
}
