package fsm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/google/btree"
	"github.com/hashicorp/raft"
)

var (
	_ raft.FSM         = (*Machine)(nil)
	_ raft.BatchingFSM = (*Machine)(nil)
)

// Response is what applying a KindTxn command returns to the proposer.
type Response struct {
	Result objects.TxnResult
	// Err is a domain failure (errors.Is objects.ErrConflict or
	// objects.ErrInvalid); nothing was changed.
	Err error
	// Index is the log index of the entry that produced Result: for a
	// replayed Idempotency-Key, the first one.
	Index uint64
	// Replayed is true when Result was remembered, not computed now.
	Replayed bool
}

// Options tune a Machine.
type Options struct {
	Logger *slog.Logger
	// IgnoreIdempotency is a known bug, switched on only to prove that the
	// checker catches it: Idempotency-Keys are not remembered.
	IgnoreIdempotency bool
	// Observer, if set, hears of every object change applied (watches).
	Observer Observer
	// SQL keeps the databases of SQLite-backed objects (sql.go). A node
	// without one cannot apply their calls: it panics on the first.
	SQL *sqlstore.Store
}

// Machine is dobj's replicated state machine: every object's storage, the
// idempotency table and the members' HTTP addresses. Raft rebuilds it from
// the snapshot and log on start; it keeps nothing of its own on disk.
type Machine struct {
	opts Options

	// mu guards the state; Apply holds it for writing, reads for reading.
	mu      sync.RWMutex
	store   *objects.Store
	idem    *idemTable
	members map[string]string // id -> HTTP address
	cls     *classState       // object classes: registry and alarms
	scr     *scriptState      // Workers scripts (scripts.go)
	// sqlObjects are the objects that have a database in opts.SQL.
	sqlObjects *btree.BTreeG[string]
	// entrySeq is the place, in the entry being applied, of the command
	// being applied (sqlPosition); only the applying goroutine uses it.
	entrySeq int
	// sqlMu keeps a snapshot's stream of a database and a restore's
	// install of one apart (sqlsnap.go).
	sqlMu                    sync.Mutex
	sqlInstalled, sqlSkipped atomic.Uint64
	// obs collects the changes of the batch being applied, for
	// Options.Observer; only the goroutine that applies touches it.
	obs observed
	// index is the index of the last entry the state holds, guarded by
	// mu, for Digest (applied is set only after mu is released).
	index uint64
	// restores is odd while a Restore runs, and grows by two with each,
	// for Digest: a restore may put back databases older than the state.
	restores atomic.Uint64
	// digestHook, if set (by tests), runs after each database Digest
	// hashes.
	digestHook func(object string)

	// waitMu guards advanced, which is closed and replaced each time the
	// applied index moves.
	waitMu   sync.Mutex
	advanced chan struct{}
	applied  atomic.Uint64
}

// New returns an empty Machine.
func New(opts Options) *Machine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Machine{
		opts:     opts,
		store:    objects.NewStore(),
		idem:     newIdemTable(),
		members:  map[string]string{},
		cls:      newClassState(),
		scr:      newScriptState(),
		advanced: make(chan struct{}),

		sqlObjects: newSQLObjects(),
	}
}

// Apply applies one committed log entry.
func (m *Machine) Apply(l *raft.Log) interface{} {
	return m.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries in order under one lock.
func (m *Machine) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	if len(logs) == 0 {
		return out
	}
	m.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		out[i] = m.applyCommand(l)
	}
	m.index = logs[len(logs)-1].Index
	m.mu.Unlock()
	m.notify()
	m.setApplied(logs[len(logs)-1].Index)
	return out
}

func (m *Machine) applyCommand(l *raft.Log) interface{} {
	m.entrySeq = 0
	return m.applyEncoded(l.Data, l.Index)
}

func (m *Machine) applyEncoded(data []byte, index uint64) interface{} {
	c, err := Decode(data)
	if err != nil {
		// A committed entry this build cannot read: going on would make
		// this replica diverge from the others.
		panic(fmt.Sprintf("fsm: log entry %d: %v", index, err))
	}
	if c.Kind == KindBatch {
		out := &BatchResponse{Responses: make([]interface{}, len(c.Batch))}
		for i, sub := range c.Batch {
			out.Responses[i] = m.applyEncoded(sub, index)
		}
		return out
	}
	defer func() { m.entrySeq++ }()
	m.idem.expire(c.Time)
	switch c.Kind {
	case KindNoop:
		return nil
	case KindSetMember:
		m.members[c.Member.ID] = c.Member.HTTPAddr
		return nil
	case KindRemoveMember:
		delete(m.members, c.Member.ID)
		return nil
	case KindTxn:
		return m.applyTxn(c, index)
	default:
		if resp, ok := m.applyClassCommand(c, index); ok {
			return resp
		}
		if resp, ok := m.applyScriptCommand(c, index); ok {
			return resp
		}
		panic(fmt.Sprintf("fsm: log entry %d: unknown command kind %d", index, c.Kind))
	}
}

func (m *Machine) applyTxn(c *Command, index uint64) *Response {
	useIdem := c.IdemKey != "" && !m.opts.IgnoreIdempotency
	var key string
	var hash []byte
	if useIdem {
		key = idemKey(c.Object, c.IdemKey)
		hash = requestHash(c.Object, c.Txn)
		if e, ok := m.idem.get(key, c.Time); ok {
			if !e.matches(hash) {
				return &Response{Err: ErrIdempotencyMismatch, Index: index}
			}
			o := e.Outcome
			return &Response{Result: o.Result.result(), Err: o.err(), Index: o.Index, Replayed: true}
		}
		if m.idem.full() {
			return &Response{Err: ErrIdempotencyFull, Index: index}
		}
	}
	res, err := m.applyTxnToStore(c.Object, c.Txn, index)
	if useIdem {
		m.idem.put(&idemEntry{Key: key, Expires: c.IdemExpires, Outcome: newOutcome(res, err, index), Hash: hash})
	}
	return &Response{Result: res, Err: err, Index: index}
}

func (m *Machine) setApplied(index uint64) {
	m.waitMu.Lock()
	m.applied.Store(index)
	close(m.advanced)
	m.advanced = make(chan struct{})
	m.waitMu.Unlock()
}

// LastApplied is the index of the last entry this Machine applied (Raft's
// AppliedIndex is only what was handed to the FSM goroutine).
func (m *Machine) LastApplied() uint64 { return m.applied.Load() }

// WaitApplied returns once the Machine has applied index, or ctx is done.
func (m *Machine) WaitApplied(ctx context.Context, index uint64) error {
	for {
		m.waitMu.Lock()
		if m.applied.Load() >= index {
			m.waitMu.Unlock()
			return nil
		}
		ch := m.advanced
		m.waitMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Read calls fn with the current state under the read lock; fn must not
// keep the store past its return.
func (m *Machine) Read(fn func(s *objects.Store)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	fn(m.store)
}

// Members returns a copy of the members' HTTP addresses by id.
func (m *Machine) Members() map[string]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]string, len(m.members))
	for id, addr := range m.members {
		out[id] = addr
	}
	return out
}

// Digest fingerprints the whole state (objects, idempotency table,
// members) as a hex sha256, with the index it was taken at and the number
// of keys stored.
//
// SQLite-backed objects' databases are hashed with the rest (their
// logical state, sqlstore's Digest), without keeping commands from being
// applied meanwhile: a node with many large databases takes minutes. A
// database that cannot be read makes the digest say so rather than match
// another's. A database that a command after the digest's index reached
// before it was hashed makes the try fail; a few tries that all fail
// (writes never pause) are ErrDigestBusy: a digest is for checks (dobj
// check, convergence tests), which compare nodes once writes are done.
func (m *Machine) Digest() (digest string, applied uint64, keys int, err error) {
	for range digestTries {
		if digest, applied, keys, ok := m.digestOnce(); ok {
			return digest, applied, keys, nil
		}
	}
	return "", 0, 0, ErrDigestBusy
}

// ErrDigestBusy is Digest's failure when commands kept reaching the
// databases it hashed: there is no digest of one index to give; retry.
var ErrDigestBusy = errors.New("fsm: commands kept changing the SQL databases while they were hashed; no digest of one index; retry")

// digestTries is how many times Digest tries before ErrDigestBusy.
const digestTries = 3

// digestOnce is one try of Digest: the state in memory and the list of
// databases are taken under mu, at index N, and the databases hashed
// after it is released. Each database only moves forward along the log
// and held every command up to N before mu was released, so one whose
// position (read with its hash) is within entry N or before holds its
// state at N; a later one, or a restore meanwhile (which replaces
// databases, perhaps by older ones, before it takes mu), fails the try
// (ok is false).
func (m *Machine) digestOnce() (digest string, applied uint64, keys int, ok bool) {
	h := sha256.New()
	s, index, restores := m.digestStart()
	if restores%2 == 1 || !m.writeSQLDigest(h, s.sqlObjects, index) {
		return "", 0, 0, false
	}
	if m.restores.Load() != restores {
		return "", 0, 0, false // a restore ran meanwhile
	}
	d := s.store.Digest()
	h.Write(d[:])
	s.writeMeta(h)
	s.writeClasses(h)
	s.writeScripts(h)
	return hex.EncodeToString(h.Sum(nil)), index, s.store.Len(), true
}

// digestStart is the part of a Digest try that holds mu: a copy of the
// state, its index and the count of restores then.
func (m *Machine) digestStart() (s *snapshot, index, restores uint64) {
	m.mu.Lock() // snapshot clones the B-trees, which writes to them
	defer m.mu.Unlock()
	return m.snapshot(), m.index, m.restores.Load()
}

// restoring marks the start and the end of a Restore (restores).
func (m *Machine) restoring() { m.restores.Add(1) }

// writeMeta hashes the members and idempotency table in sorted order.
func (s *snapshot) writeMeta(w io.Writer) {
	var n [8]byte
	str := func(v string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		w.Write(n[:])
		io.WriteString(w, v)
	}
	for _, mb := range s.members {
		str(mb.ID)
		str(mb.HTTPAddr)
	}
	s.idem.byKey.Ascend(func(e *idemEntry) bool {
		str(e.Key)
		binary.BigEndian.PutUint64(n[:], uint64(e.Expires))
		w.Write(n[:])
		binary.BigEndian.PutUint64(n[:], e.Outcome.Index)
		w.Write(n[:])
		if len(e.Hash) > 0 { // absent from entries of earlier builds
			str(string(e.Hash))
		}
		return true
	})
}

// snapshot captures the state in constant time (plus the small members
// list); the caller holds mu for writing: google/btree's Clone marks the
// shared nodes copy-on-write in the tree it clones, so two clones under a
// read lock race (go test -race shows it).
func (m *Machine) snapshot() *snapshot {
	members := make([]Member, 0, len(m.members))
	for id, addr := range m.members {
		members = append(members, Member{ID: id, HTTPAddr: addr})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	return &snapshot{
		store:   m.store.Clone(),
		idem:    m.idem.clone(),
		members: members,
		cls:     m.cls.clone(),
		scr:     m.scr.clone(),
		applied: m.applied.Load(),

		sqlStore:   m.opts.SQL,
		sqlObjects: m.sqlObjects.Clone(),
		sqlMu:      &m.sqlMu,
	}
}
