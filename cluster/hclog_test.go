package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// syncBuffer is a log destination read while the node writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRaftLinesHaveDobjsShape runs a real node and checks that a line of
// hashicorp/raft's ("entering leader state") and one of dobj's ("opened
// raft log") come out of the same handler in the same shape, in either
// format.
func TestRaftLinesHaveDobjsShape(t *testing.T) {
	formats := []struct {
		name  string
		new   func(*syncBuffer) slog.Handler
		parse func(t *testing.T, line string) map[string]string
	}{
		{"json", func(b *syncBuffer) slog.Handler { return slog.NewJSONHandler(b, nil) }, parseJSONLine},
		{"text", func(b *syncBuffer) slog.Handler { return slog.NewTextHandler(b, nil) }, parseTextLine},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			var out syncBuffer
			c := &testCluster{t: t, nodes: map[string]*Node{}, dirs: map[string]string{}}
			t.Cleanup(func() {
				for _, n := range c.nodes {
					n.Close()
				}
			})
			cfg := testConfig("n1", t.TempDir())
			cfg.Peers = []Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}}
			cfg.Logger = slog.New(f.new(&out)).With("node", "n1")
			c.open(cfg)
			c.waitLeader(nil)
			c.eventually(5*time.Second, "Raft's leader line", func() bool { return strings.Contains(out.String(), "entering leader state") })

			var raftLine, dobjLine map[string]string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if strings.Contains(line, "@level") || strings.Contains(line, "@message") {
					t.Fatalf("a line in hclog's own shape: %s", line)
				}
				m := f.parse(t, line)
				switch m["msg"] {
				case "entering leader state":
					raftLine = m
				case "opened raft log":
					dobjLine = m
				}
			}
			if raftLine == nil || dobjLine == nil {
				t.Fatalf("missing the Raft or the dobj line in:\n%s", out.String())
			}
			for _, k := range []string{"time", "level", "msg", "node"} {
				if raftLine[k] == "" || dobjLine[k] == "" {
					t.Errorf("key %q: raft line %q, dobj line %q", k, raftLine[k], dobjLine[k])
				}
			}
			if raftLine["node"] != "n1" || raftLine["level"] != "INFO" || raftLine["component"] != "raft" {
				t.Errorf("raft line %v: want node n1, level INFO, component raft", raftLine)
			}
		})
	}
}

func parseJSONLine(t *testing.T, line string) map[string]string {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatalf("not a JSON line: %q: %v", line, err)
	}
	m := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			m[k] = s
		} else {
			m[k] = "non-string"
		}
	}
	return m
}

// parseTextLine reads the leading key=value pairs of slog's text format
// (enough for time, level, msg, node and component).
func parseTextLine(t *testing.T, line string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(line, "time=") {
		t.Fatalf("not a text line of slog's: %q", line)
	}
	m := map[string]string{}
	for rest := line; rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			end := 1
			for end < len(after) && (after[end] != '"' || after[end-1] == '\\') {
				end++
			}
			val, rest = strings.ReplaceAll(after[1:end], `\"`, `"`), strings.TrimPrefix(after[min(end+1, len(after)):], " ")
		} else {
			val, rest, _ = strings.Cut(after, " ")
		}
		m[key] = val
	}
	return m
}

// TestHCLogAdapter covers what Raft's calls rely on: levels, With, Named,
// reserved keys renamed, formats and errors printed.
func TestHCLogAdapter(t *testing.T) {
	var out syncBuffer
	l := newHCLogger(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", "n1"), "raft", "info")
	if l.IsDebug() || !l.IsInfo() || !l.IsError() {
		t.Fatalf("at info: debug %v info %v error %v", l.IsDebug(), l.IsInfo(), l.IsError())
	}
	l.Debug("hidden")
	n := l.Named("net").With("peer", "n2")
	n.Warn("failed to contact", "node", "n3", "error", errors.New("refused"), "servers", hclog.Fmt("%d of %d", 1, 3), "odd")
	l.SetLevel(hclog.Debug)
	if !n.IsDebug() {
		t.Fatal("SetLevel did not reach a logger made from this one")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines %q, want one", lines)
	}
	m := parseJSONLine(t, lines[0])
	want := map[string]string{"level": "WARN", "msg": "failed to contact", "node": "n1", "component": "raft.net",
		"peer": "n2", "raft_node": "n3", "error": "refused", "servers": "1 of 3", "EXTRA_VALUE_AT_END": "odd"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q (line %s)", k, m[k], v, lines[0])
		}
	}
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERROR] broken pipe")
	if m := parseJSONLine(t, strings.Split(strings.TrimSpace(out.String()), "\n")[1]); m["level"] != "ERROR" || m["msg"] != "broken pipe" {
		t.Errorf("standard logger line %v", m)
	}
}
