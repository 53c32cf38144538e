package fsm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/dobj/dobj/objects"
	"github.com/dobj/dobj/sqlstore"
	"github.com/google/btree"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// snapshotVersion is the snapshot layout this build writes and reads; it
// moves apart from the command Version. The header is a msgpack map, so a
// new omitempty field (a count of new records that follow the old ones)
// keeps older snapshots readable without a new version.
const snapshotVersion = 1

// snapshotRefVersion is the layout of a snapshot that holds databases by
// reference (sqlsnap.go); one that holds none, or all inline (a backup,
// a snapshot sent to a follower), is still written as snapshotVersion.
const snapshotRefVersion = 2

// snapshotHeader opens a snapshot stream. Counts come first so that
// Restore knows how many records follow.
type snapshotHeader struct {
	V       uint8    `msgpack:"v"`
	Applied uint64   `msgpack:"applied"`
	Members []Member `msgpack:"members"`
	Idem    int      `msgpack:"idem"`
	Keys    int      `msgpack:"keys"`
	// Classes and Alarms count the class records that follow the object
	// entries (issue 14); snapshots without them read as having none.
	Classes int `msgpack:"classes,omitempty"`
	Alarms  int `msgpack:"alarms,omitempty"`
	// Scripts counts the script records that follow the class records
	// (issue 20); snapshots without it read as having none.
	Scripts int `msgpack:"scripts,omitempty"`
	// SQL counts the databases of SQLite-backed objects that follow the
	// script records (issue 22, sqlsnap.go); snapshots without it read
	// as having none.
	SQL int `msgpack:"sql,omitempty"`
	// SQLStore is the identity (sqlstore.Store.ID) of the store the
	// databases were streamed from, when there are any.
	SQLStore string `msgpack:"sqlstore,omitempty"`
}

// snapshot is a point-in-time copy of a Machine's state. The store and the
// idempotency table are copy-on-write clones, so taking one is cheap and
// Persist runs while Apply goes on.
type snapshot struct {
	store   *objects.Store
	idem    *idemTable
	members []Member // sorted by ID
	cls     *classState
	scr     *scriptState
	applied uint64

	// The databases of SQLite-backed objects are not copied: their names
	// are, and Persist streams each from the store (sqlsnap.go).
	sqlStore   *sqlstore.Store
	sqlObjects *btree.BTreeG[string]
	sqlMu      *sync.Mutex
	// sqlFrom is, in a snapshot read back, the identity of the store
	// that streamed its databases.
	sqlFrom string
}

var _ raft.FSMSnapshot = (*snapshot)(nil)

// Snapshot captures the state for Raft to persist.
func (m *Machine) Snapshot() (raft.FSMSnapshot, error) {
	m.mu.Lock() // see snapshot: cloning writes to the trees
	defer m.mu.Unlock()
	return m.snapshot(), nil
}

// Capture is the state at one applied index, captured in constant time
// (copy-on-write clones), for a backup: Write streams it in the snapshot
// format that Restore reads, while Apply goes on.
type Capture struct{ s *snapshot }

// Capture captures the current state.
func (m *Machine) Capture() *Capture {
	m.mu.Lock() // see snapshot: cloning writes to the trees
	defer m.mu.Unlock()
	return &Capture{s: m.snapshot()}
}

// CloneStore returns a copy-on-write copy of the objects' storage, which
// the caller may read and modify on its own. Clone writes to the tree it
// clones, so it takes the write lock (Read's read lock would race).
func (m *Machine) CloneStore() *objects.Store {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.store.Clone()
}

// Applied is the index of the last entry the captured state holds.
func (c *Capture) Applied() uint64 { return c.s.applied }

// Keys is the number of keys the captured state holds.
func (c *Capture) Keys() int { return c.s.store.Len() }

// Write streams the captured state in the snapshot format.
func (c *Capture) Write(w io.Writer) error { return c.s.write(w, true) }

// SnapshotApplied reads the header of a snapshot stream and returns the
// applied index it was taken at, checking the rest decodes.
func SnapshotApplied(r io.Reader) (uint64, error) {
	s, err := readSnapshot(r, skipSQL)
	if err != nil {
		return 0, err
	}
	return s.applied, nil
}

// Persist streams the snapshot as msgpack: a header, the idempotency
// entries in key order, then every object's entries in (object, key)
// order, ..., and the databases by reference (sqlsnap.go).
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink, false); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// write writes the snapshot to w, its databases inline or by reference.
func (s *snapshot) write(w io.Writer, inline bool) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := msgpack.NewEncoder(bw)
	h := snapshotHeader{V: snapshotVersion, Applied: s.applied, Members: s.members, Idem: s.idem.len(), Keys: s.store.Len(),
		Classes: s.cls.classes.Len(), Alarms: s.cls.alarmOf.Len(), Scripts: s.scr.scripts.Len(), SQL: s.sqlObjects.Len()}
	if h.SQL > 0 && s.sqlStore != nil {
		h.SQLStore = s.sqlStore.ID()
	}
	if h.SQL > 0 && !inline {
		h.V = snapshotRefVersion
	}
	if err := enc.Encode(&h); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	var err error
	s.idem.byKey.Ascend(func(e *idemEntry) bool {
		err = enc.Encode(e)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("write idempotency entry: %w", err)
	}
	s.store.Ascend(func(object, key string, value json.RawMessage) bool {
		if err = enc.EncodeString(object); err == nil {
			if err = enc.EncodeString(key); err == nil {
				err = enc.EncodeBytes(value)
			}
		}
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("write object entry: %w", err)
	}
	if err := s.cls.write(enc); err != nil {
		return err
	}
	if err := s.scr.write(enc); err != nil {
		return err
	}
	if err := s.writeSQL(enc, inline); err != nil {
		return err
	}
	return bw.Flush()
}

// Release is a no-op: the clones are garbage once unreferenced.
func (s *snapshot) Release() {}

// Restore replaces the whole state with the snapshot in r.
func (m *Machine) Restore(r io.ReadCloser) error {
	defer r.Close()
	m.restoring() // it may replace databases before it takes mu
	defer m.restoring()
	installed, skipped := m.SQLRestoreStats()
	var mark restoreMark
	s, err := readSnapshot(r, func(src sqlSource, rec *sqlObjectRecord, db io.Reader) error {
		return m.installSQL(&mark, src, rec, db)
	})
	if err != nil {
		return err
	}
	m.markRestored(s, installed, skipped)
	members := make(map[string]string, len(s.members))
	for _, mb := range s.members {
		members[mb.ID] = mb.HTTPAddr
	}
	m.mu.Lock()
	m.store, m.idem, m.members, m.cls, m.scr = s.store, s.idem, members, s.cls, s.scr
	m.sqlObjects = s.sqlObjects
	m.index = s.applied
	m.mu.Unlock()
	if m.opts.Observer != nil {
		m.opts.Observer.Restored(s.applied)
	}
	m.setApplied(s.applied)
	m.opts.Logger.Info("restored snapshot", "applied_index", s.applied, "keys", s.store.Len(), "idempotency_keys", s.idem.len())
	return nil
}

// DecodeWhole reads the next value of dec whole, then decodes it into v.
// msgpack v5.4.1 sizes a slice by the length its header declares before
// it reads one element (WellFormed), so a snapshot, backup or stream
// frame whose few bytes declare a billion members would take the
// process's memory; read whole first, every declared element is backed
// by the bytes holding it.
func DecodeWhole(dec *msgpack.Decoder, v any) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return err
	}
	return msgpack.Unmarshal(raw, v)
}

// readSnapshot reads a snapshot stream; each database in it goes to sql,
// which installs it or reads past it.
func readSnapshot(r io.Reader, sql sqlReader) (*snapshot, error) {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	var h snapshotHeader
	if err := DecodeWhole(dec, &h); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if h.V != snapshotVersion && h.V != snapshotRefVersion {
		return nil, fmt.Errorf("read snapshot: unknown version %d", h.V)
	}
	s := &snapshot{store: objects.NewStore(), idem: newIdemTable(), members: h.Members, cls: newClassState(), scr: newScriptState(), applied: h.Applied,
		sqlObjects: newSQLObjects()}
	for i := 0; i < h.Idem; i++ {
		var e idemEntry
		if err := DecodeWhole(dec, &e); err != nil {
			return nil, fmt.Errorf("read idempotency entry %d: %w", i, err)
		}
		s.idem.put(&e)
	}
	for i := 0; i < h.Keys; i++ {
		object, err := dec.DecodeString()
		if err != nil {
			return nil, fmt.Errorf("read object entry %d: %w", i, err)
		}
		key, err := dec.DecodeString()
		if err != nil {
			return nil, fmt.Errorf("read object entry %d: %w", i, err)
		}
		value, err := dec.DecodeBytes()
		if err != nil {
			return nil, fmt.Errorf("read object entry %d: %w", i, err)
		}
		s.store.Load(object, key, value)
	}
	if err := s.cls.read(dec, h.Classes, h.Alarms); err != nil {
		return nil, err
	}
	if err := s.scr.read(dec, h.Scripts); err != nil {
		return nil, err
	}
	src := sqlSource{store: h.SQLStore, applied: h.Applied}
	names, err := readSQL(dec, h.SQL, src, h.V == snapshotRefVersion, sql)
	if err != nil {
		return nil, err
	}
	s.sqlFrom = h.SQLStore
	for _, o := range names {
		s.sqlObjects.ReplaceOrInsert(o)
	}
	return s, nil
}
