package fsm

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// The golden files under the repository's testdata/ are log entries and
// snapshots as each format version wrote them. They are written once,
// with -update, when a version is new, and never again: every later
// build must read them to the same state. A change of layout that breaks
// one would break a running cluster's data, or a cluster upgraded one
// node at a time.
var update = flag.Bool("update", false, "write the golden files of the current format (only when adding a format version)")

const goldenDir = "../testdata"

func txnCmd() Command {
	return Command{Kind: KindTxn, Object: "card-1", Txn: objects.Txn{
		Compare: []objects.Compare{{Key: "owner", Op: objects.CmpMissing}},
		Success: []objects.Op{{Op: objects.OpPut, Key: "owner", Value: json.RawMessage(`"ada"`)}, {Op: objects.OpIncrement, Key: "value", By: 5}},
		Failure: []objects.Op{{Op: objects.OpGet, Key: "owner"}},
	}, IdemKey: "k-1", IdemExpires: 600_000_000_042, Time: 42}
}

// goldenCommands are the entries of every version, by file name.
func goldenCommands(t *testing.T) map[string][]byte {
	t.Helper()
	v1 := func(c Command) []byte {
		b, err := Encode(&c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	asMap := func(c Command) []byte { // as builds before arrays wrote entries
		c.V = 1
		b, err := msgpack.Marshal(&commandV1{V: c.V, Kind: c.Kind, Object: c.Object, Txn: txnRecordOf(c.Txn), IdemKey: c.IdemKey,
			IdemExpires: c.IdemExpires, Time: c.Time, Member: c.Member, Batch: c.Batch})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	batch := Command{Kind: KindBatch, Time: 43, Batch: [][]byte{v1(txnCmd()), v1(Command{Kind: KindNoop, Time: 43})}}
	return map[string][]byte{
		"v1-noop":          v1(Command{Kind: KindNoop, Time: 41}),
		"v1-txn":           v1(txnCmd()),
		"v1-set-member":    v1(Command{Kind: KindSetMember, Time: 44, Member: Member{ID: "n2", HTTPAddr: "127.0.0.1:8082"}}),
		"v1-remove-member": v1(Command{Kind: KindRemoveMember, Time: 45, Member: Member{ID: "n2"}}),
		"v1-batch":         v1(batch),
		"v1-map-txn":       asMap(txnCmd()),
		"v2-body":          v1(Command{Kind: KindNoop, Time: 46, Body: []byte("a kind's own payload")}),
		"v3-keyed-call":    v1(keyedCallCmd(t)),
		"v2-script-put":    v1(goldenScriptCommands(t)[0]),
		"v2-secret-put":    v1(goldenScriptCommands(t)[2]),
		"v2-script-delete": v1(goldenScriptCommands(t)[3]),
		"v4-sql-call":      v1(sqlCallCmd(t)),
	}
}

// sqlCallCmd is a keyed call of an SQLite-backed object, which version 4
// applies with its SQL writes: every type a statement's arguments take,
// and a key-value put.
func sqlCallCmd(t *testing.T) Command {
	t.Helper()
	object := ClassObject("app:Counter", "c1")
	body, err := EncodeBody(&Call{
		SQL: &SQLWrites{Env: sqlstore.Env{Seed: 7, Now: time.Unix(1_700_000_000, 5).UTC()}, Log: []sqlstore.Statement{
			{Op: sqlstore.OpSQL, SQL: "CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n, f REAL, r INTEGER, at TEXT)"},
			{Op: sqlstore.OpSQL, SQL: "INSERT INTO t VALUES (?, ?, ?, ?, ?, random(), datetime('now'))",
				Args: []any{int64(-300), "x", []byte{1, 2}, nil, 1.5}},
			{Op: sqlstore.OpPut, Args: []any{"k", []byte("v")}},
		}},
		Alarm:    &AlarmChange{At: 1_700_000_001_000},
		Response: &CallResponse{Status: 200, Body: []byte("ok")},
		Request:  CallRequestHash(object, "POST", "http://h/hello", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	return Command{Kind: KindCall, Object: object, IdemKey: "k-4", IdemExpires: 600_000_000_048, Time: 48, Body: body}
}

// keyedCallCmd is a keyed class call, which version 3 applies bound to
// its request and to the idempotency table's size.
func keyedCallCmd(t *testing.T) Command {
	t.Helper()
	body, err := EncodeBody(&Call{
		Ops:      []objects.Op{{Op: objects.OpIncrement, Key: "n", By: 1}},
		Response: &CallResponse{Status: 201, Header: []HeaderField{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("1")},
		Request:  CallRequestHash(ClassObject("Counter", "c1"), "POST", "http://h/increment?by=1", []byte("{}")),
	})
	if err != nil {
		t.Fatal(err)
	}
	return Command{Kind: KindCall, Object: ClassObject("Counter", "c1"), IdemKey: "k-3", IdemExpires: 600_000_000_047, Time: 47, Body: body}
}

// TestGoldenCommands decodes every version's entries and checks that this
// build still writes each one's bytes.
func TestGoldenCommands(t *testing.T) {
	dir := filepath.Join(goldenDir, "commands")
	if *update {
		for name, b := range goldenCommands(t) {
			c, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			writeGolden(t, filepath.Join(dir, name+".msgpack"), b)
			writeGolden(t, filepath.Join(dir, name+".json"), jsonOf(t, c))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.msgpack"))
	if len(files) < len(goldenCommands(t)) {
		t.Fatalf("%d golden entries in %s, want at least %d", len(files), dir, len(goldenCommands(t)))
	}
	written := goldenCommands(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".msgpack")
		t.Run(name, func(t *testing.T) {
			b := readGolden(t, f)
			c, err := Decode(b)
			if err != nil {
				t.Fatalf("a build can no longer read %s: %v", name, err)
			}
			// The JSON says what the entry holds; fields added to Command
			// later are absent from it, so zero, as an old entry's are.
			var want Command
			if err := json.Unmarshal(readGolden(t, strings.TrimSuffix(f, ".msgpack")+".json"), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*c, want) {
				t.Fatalf("decoded %s\n%s\nwant\n%s", name, jsonOf(t, c), jsonOf(t, want))
			}
			if w, ok := written[name]; ok && !bytes.Equal(w, b) {
				t.Fatalf("this build writes %s as %x, the golden file holds %x: a new layout needs a new Version", name, w, b)
			}
			// Every entry applies; a batch's sub-entries too.
			m := New(Options{SQL: openSQL(t)})
			m.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: b})
		})
	}
}

// goldenState is the state a snapshot of each version holds.
func goldenState(t *testing.T) *Machine {
	t.Helper()
	m := New(Options{})
	cmds := []Command{
		{Kind: KindSetMember, Time: 1, Member: Member{ID: "n1", HTTPAddr: "127.0.0.1:8081"}},
		{Kind: KindSetMember, Time: 1, Member: Member{ID: "n2", HTTPAddr: "127.0.0.1:8082"}},
		txnCmd(),
		{Kind: KindTxn, Time: 50, Object: "card-2", Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "value", By: -3}}}},
		// "owner" holds "ada": a conflict, remembered with its key.
		{Kind: KindTxn, Time: 51, Object: "card-1", IdemKey: "conflicting", IdemExpires: 600_000_000_051,
			Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "owner", By: 1}}}},
	}
	for i, c := range cmds {
		b, err := Encode(&c)
		if err != nil {
			t.Fatal(err)
		}
		m.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	return m
}

// goldenClassState is goldenState with class records: a class, a keyed
// call (its remembered response), an alarm that threw once.
func goldenClassState(t *testing.T) *Machine {
	t.Helper()
	m := goldenState(t)
	f := &feeder{t: t, m: m, index: m.LastApplied()}
	f.applyRaw(classCmd(t, KindClassPut, "", &ClassPut{Name: "Counter", Lang: "js", Source: []byte("export class Counter {}")}))
	call := keyedCallCmd(t)
	f.applyRaw(&call)
	f.applyRaw(classCmd(t, KindCall, ClassObject("Counter", "c2"), &Call{Alarm: &AlarmChange{At: 99}}))
	f.applyRaw(classCmd(t, KindCall, ClassObject("Counter", "c2"), &Call{Threw: 99}))
	return m
}

// goldenSQLState is goldenScriptState with two SQLite-backed objects'
// databases (the golden command's call and one more).
func goldenSQLState(t *testing.T) *Machine {
	t.Helper()
	src := goldenScriptState(t)
	m := New(Options{SQL: openSQL(t)})
	if err := m.Restore(nopCloser{bytes.NewReader(snapshotBytes(t, src))}); err != nil {
		t.Fatal(err)
	}
	f := &feeder{t: t, m: m, index: m.LastApplied()}
	call := sqlCallCmd(t)
	f.applyRaw(&call)
	f.applyRaw(sqlCall(t, ClassObject("app:Counter", "c2"), 9, "CREATE TABLE u (id INTEGER PRIMARY KEY, at TEXT DEFAULT CURRENT_TIMESTAMP)", "INSERT INTO u DEFAULT VALUES"))
	return m
}

// TestGoldenSnapshots restores every version's snapshot and checks the
// state it gives by its digest, members and idempotency table.
func TestGoldenSnapshots(t *testing.T) {
	dir := filepath.Join(goldenDir, "snapshots")
	if *update {
		// Only a missing file is written: v1.snap was written before
		// idempotency entries had a request hash, and must stay so.
		for name, state := range map[string]func(*testing.T) *Machine{"v1": goldenState, "v1-classes": goldenClassState, "v1-scripts": goldenScriptState, "v1-sql": goldenSQLState} {
			if _, err := os.Stat(filepath.Join(dir, name+".snap")); err == nil {
				continue
			}
			m := state(t)
			writeGolden(t, filepath.Join(dir, name+".snap"), snapshotBytes(t, m))
			d, applied, keys, _ := m.Digest()
			writeGolden(t, filepath.Join(dir, name+".json"), jsonOf(t, snapshotFacts{Digest: d, Applied: applied, Keys: keys, Members: m.Members()}))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.snap"))
	if len(files) == 0 {
		t.Fatalf("no golden snapshots in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m := New(Options{SQL: openSQL(t)})
			if err := m.Restore(nopCloser{bytes.NewReader(readGolden(t, f))}); err != nil {
				t.Fatalf("a build can no longer read %s: %v", f, err)
			}
			d, applied, keys, _ := m.Digest()
			got := jsonOf(t, snapshotFacts{Digest: d, Applied: applied, Keys: keys, Members: m.Members()})
			if want := readGolden(t, strings.TrimSuffix(f, ".snap")+".json"); !bytes.Equal(got, want) {
				t.Fatalf("restored %s\n%s\nwant\n%s", f, got, want)
			}
			// A snapshot with databases names the store it came from
			// and holds SQLite's own files: its bytes are the node's.
			if again := snapshotBytes(t, m); len(m.SQLObjects()) == 0 && !bytes.Equal(again, readGolden(t, f)) {
				t.Fatalf("this build writes the state restored from %s as other bytes: a new layout needs a new snapshot version", f)
			}
			// The remembered outcome of an Idempotency-Key survived: a
			// retry gets the first answer, a conflict, again.
			b, _ := Encode(&Command{Kind: KindTxn, Time: 60, Object: "card-1", IdemKey: "conflicting", IdemExpires: 600_000_000_060,
				Txn: objects.Txn{Success: []objects.Op{{Op: objects.OpIncrement, Key: "owner", By: 1}}}})
			resp := m.Apply(&raft.Log{Index: applied + 1, Type: raft.LogCommand, Data: b}).(*Response)
			if !resp.Replayed || resp.Err == nil || resp.Index != 5 {
				t.Fatalf("retry after restore: %+v, want the first outcome (a conflict at index 5) replayed", resp)
			}
		})
	}
}

type snapshotFacts struct {
	Digest  string            `json:"digest"`
	Applied uint64            `json:"applied"`
	Keys    int               `json:"keys"`
	Members map[string]string `json:"members"`
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeGolden(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
