package fsm

import (
	"errors"
	"fmt"
	"io"

	"github.com/dobj/dobj/sqlstore"
	"github.com/vmihailenco/msgpack/v5"
)

// Snapshots of SQLite-backed objects. Snapshot copies nothing of the
// databases: it clones the set of their names, in constant time.
//
// A node's own snapshots (Persist, into its local snapshot store) hold
// the databases by reference: each is a sqlObjectRecord with Ref set,
// naming the object and the applied position its database holds, made
// durable first (sqlstore.Store.Durable), and no bytes. The databases on
// disk are the node's state; a snapshot file does not grow with them, and
// taking one neither copies them nor holds any open for long. A node that
// restores its own snapshot (a restart) checks that each database holds
// at least the recorded position and fails, naming the object, if one is
// missing or behind (checkSQLRef): that is a lost or replaced file, which
// replaying the log could not repair once the log is compacted.
//
// The bytes leave the node inline: a backup (Capture.Write) streams every
// database, and a snapshot sent to a follower is expanded first (Expand:
// the local file's records, then each database frozen and streamed in
// turn). Each database is then at its state at that moment — at or after
// the position the snapshot recorded, since a database only moves forward
// along the log — with the applied position it holds recorded before its
// bytes. Restoring such a snapshot and replaying the log after its index
// gives every database its state at the end of the log:
// sqlstore.Store.Apply skips the commands a database already holds, so
// the writes the stream holds beyond the snapshot's index apply once.
//
// Restore installs an inline database only if the node's own is behind
// the one streamed. A node keeps the snapshot it was sent as its latest
// until it takes one of its own; if that restore installed every
// database (a new member), the store marks it (MarkRestored), and a
// restart that restores it again takes the files as they are, each
// position checked at its next open, rather than opening them all to
// compare.
//
// In the stream, an inline database is a sqlObjectRecord followed by its
// file as msgpack bin chunks of at most maxSQLChunk bytes, ended by an
// empty one, so that neither side holds more than a chunk in memory. A
// snapshot with a by-reference record is snapshotRefVersion, which
// builds before it refuse rather than read chunks that are not there.

// sqlObjectRecord opens a database in a snapshot.
type sqlObjectRecord struct {
	Object  string `msgpack:"o"`
	Applied uint64 `msgpack:"a"` // sqlstore's applied position, as sqlPosition makes it
	// Ref: no bytes follow; the database is the writing node's own file,
	// which holds Applied or a later position.
	Ref bool `msgpack:"r,omitempty"`
}

// maxSQLChunk bounds a chunk of a database in a snapshot.
const maxSQLChunk = 1 << 20

// writeSQL writes every database of s, in name order, to enc: streamed
// if inline, else by reference.
func (s *snapshot) writeSQL(enc *msgpack.Encoder, inline bool) error {
	var err error
	s.sqlObjects.Ascend(func(object string) bool {
		if inline {
			err = s.writeSQLObject(enc, object)
		} else {
			err = s.writeSQLRef(enc, object)
		}
		return err == nil
	})
	return err
}

// writeSQLRef writes a reference to one database: its name and the
// applied position it durably holds.
func (s *snapshot) writeSQLRef(enc *msgpack.Encoder, object string) error {
	if s.sqlStore == nil {
		return fmt.Errorf("refer to database of %s: this node has no SQL store", object)
	}
	s.sqlMu.Lock() // no Restore installs it meanwhile
	applied, err := s.sqlStore.Durable(object)
	s.sqlMu.Unlock()
	if err != nil {
		return fmt.Errorf("refer to database of %s: %w", object, err)
	}
	if err := enc.Encode(&sqlObjectRecord{Object: object, Applied: applied, Ref: true}); err != nil {
		return fmt.Errorf("refer to database of %s: %w", object, err)
	}
	return nil
}

// writeSQLObject freezes one database and streams it.
func (s *snapshot) writeSQLObject(enc *msgpack.Encoder, object string) error {
	if s.sqlStore == nil {
		return fmt.Errorf("write database of %s: this node has no SQL store", object)
	}
	s.sqlMu.Lock() // no Restore installs it meanwhile
	defer s.sqlMu.Unlock()
	f, err := s.sqlStore.Freeze(object)
	if err != nil {
		return fmt.Errorf("write database of %s: %w", object, err)
	}
	defer f.Close()
	applied, err := f.Applied()
	if err != nil {
		return fmt.Errorf("write database of %s: %w", object, err)
	}
	if err := enc.Encode(&sqlObjectRecord{Object: object, Applied: applied}); err != nil {
		return fmt.Errorf("write database of %s: %w", object, err)
	}
	if _, err := f.WriteTo(chunkWriter{enc}); err != nil {
		return fmt.Errorf("write database of %s: %w", object, err)
	}
	if err := enc.EncodeBytes([]byte{}); err != nil {
		return fmt.Errorf("write database of %s: %w", object, err)
	}
	return nil
}

// chunkWriter writes what it is given as msgpack bin chunks.
type chunkWriter struct{ enc *msgpack.Encoder }

func (w chunkWriter) Write(p []byte) (int, error) {
	for n := 0; n < len(p); {
		end := min(len(p), n+maxSQLChunk)
		if err := w.enc.EncodeBytes(p[n:end]); err != nil {
			return n, err
		}
		n = end
	}
	return len(p), nil
}

// chunkReader reads one database's chunks, up to the empty one.
type chunkReader struct {
	dec  *msgpack.Decoder
	buf  []byte
	left []byte
	done bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.left) == 0 {
		if r.done {
			return 0, io.EOF
		}
		n, err := r.dec.DecodeBytesLen()
		switch {
		case err != nil:
			return 0, err
		case n > maxSQLChunk:
			return 0, fmt.Errorf("a chunk of %d bytes, over the bound of %d", n, maxSQLChunk)
		case n <= 0:
			r.done = true
			continue
		}
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		r.left = r.buf[:n]
		if err := r.dec.ReadFull(r.left); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

// sqlSource is where a snapshot's databases come from: the identity of
// the store that streamed them, and the snapshot's applied index.
type sqlSource struct {
	store   string
	applied uint64
}

// sqlReader is what reading a snapshot does with each database: install
// it, check it, or read past it; db is nil for a by-reference record.
type sqlReader func(src sqlSource, rec *sqlObjectRecord, db io.Reader) error

// readSQL reads n databases streamed from src, giving each to use, and
// returns their objects' names. refs says whether the stream's version
// allows by-reference records.
func readSQL(dec *msgpack.Decoder, n int, src sqlSource, refs bool, use sqlReader) ([]string, error) {
	names := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var rec sqlObjectRecord
		if err := DecodeWhole(dec, &rec); err != nil {
			return nil, fmt.Errorf("read database %d: %w", i, err)
		}
		if rec.Ref {
			if !refs {
				return nil, fmt.Errorf("read database of %s: a reference in a snapshot of a version without them", rec.Object)
			}
			if err := use(src, &rec, nil); err != nil {
				return nil, fmt.Errorf("read database of %s: %w", rec.Object, err)
			}
			names = append(names, rec.Object)
			continue
		}
		cr := &chunkReader{dec: dec}
		if err := use(src, &rec, cr); err != nil {
			return nil, fmt.Errorf("read database of %s: %w", rec.Object, err)
		}
		if _, err := io.Copy(io.Discard, cr); err != nil { // what use left
			return nil, fmt.Errorf("read database of %s: %w", rec.Object, err)
		}
		names = append(names, rec.Object)
	}
	return names, nil
}

// skipSQL reads past a database.
func skipSQL(_ sqlSource, _ *sqlObjectRecord, db io.Reader) error {
	if db == nil {
		return nil
	}
	_, err := io.Copy(io.Discard, db)
	return err
}

// installSQL is Restore's sqlReader: it installs a database unless the
// node's own already holds its applied position or a later one. A
// database by reference (a restart) goes to checkSQLRef; so, in effect,
// does one of a snapshot whose every database this store installed
// (sqlstore's MarkRestored: a restart before the node's own snapshot).
func (m *Machine) installSQL(mark *restoreMark, src sqlSource, rec *sqlObjectRecord, db io.Reader) error {
	st := m.opts.SQL
	if st == nil {
		return errors.New("the snapshot holds SQLite-backed objects, but this node has no SQL store")
	}
	m.sqlMu.Lock() // no Persist streams it meanwhile
	defer m.sqlMu.Unlock()
	if db == nil {
		return m.checkSQLRef(src.store, rec)
	}
	if src.store != "" && src.store == st.ID() && st.Has(rec.Object) {
		m.sqlSkipped.Add(1)
		return nil
	}
	if src.store != "" && mark.restored(st, src) && st.Has(rec.Object) {
		if err := st.Expect(rec.Object, rec.Applied); err != nil {
			return err
		}
		m.sqlSkipped.Add(1)
		return nil
	}
	local, err := st.Applied(rec.Object)
	if errors.Is(err, sqlstore.ErrBehind) {
		// Behind what this node's own snapshot recorded (checkSQLRef):
		// the streamed database replaces the lost or replaced file.
		local, err = 0, nil
	}
	if err != nil {
		return err
	}
	if local >= rec.Applied {
		m.sqlSkipped.Add(1)
		return nil // readSQL reads past it
	}
	m.sqlInstalled.Add(1)
	return st.Install(rec.Object, db)
}

// restoreMark is whether st installed every database of the snapshot a
// restore reads (sqlstore's MarkRestored), read once a restore.
type restoreMark struct {
	known, was bool
}

func (r *restoreMark) restored(st *sqlstore.Store, src sqlSource) bool {
	if !r.known {
		r.known, r.was = true, st.Restored(src.store, src.applied)
	}
	return r.was
}

// markRestored records, after a restore of a snapshot streamed from
// another store, that it installed every database of it, so that a
// restart restoring the same snapshot need not open them to compare
// (installSQL). installed and skipped are SQLRestoreStats before it. A
// failure to record costs that restart time only, so it is logged.
func (m *Machine) markRestored(s *snapshot, installed, skipped uint64) {
	st := m.opts.SQL
	if st == nil || s.sqlFrom == "" || s.sqlFrom == st.ID() {
		return
	}
	in, sk := m.SQLRestoreStats()
	if sk != skipped || in == installed {
		return
	}
	if err := st.MarkRestored(s.sqlFrom, s.applied); err != nil {
		m.opts.Logger.Warn("could not record the restored snapshot; a restart before the next snapshot compares every database with it", "err", err)
	}
}

// SQLRestoreStats are how many databases snapshots restored into this
// Machine installed, and how many they skipped because the node's own
// were as new already.
func (m *Machine) SQLRestoreStats() (installed, skipped uint64) {
	return m.sqlInstalled.Load(), m.sqlSkipped.Load()
}

// checkSQLRef is Restore's check of a by-reference database: the node's
// own store wrote the snapshot, and its database holds at least the
// recorded position. A store other than the one that wrote it, or a
// missing file, fails the restore, naming the object, and the node does
// not start on it. The position is checked when the database is next
// opened, before any command, session or read uses it
// (sqlstore.Store.Expect), not here: opening 10,000 databases took a
// restart 30 s. A database found behind then fails its first use with
// sqlstore.ErrBehind, naming it: Apply panics on it, so the node stops
// there rather than replay the log onto a lost or replaced file.
func (m *Machine) checkSQLRef(from string, rec *sqlObjectRecord) error {
	st := m.opts.SQL
	if from != st.ID() {
		return fmt.Errorf("the snapshot refers to the database of %s in SQL store %q, but this node's store is %q", rec.Object, from, st.ID())
	}
	if err := st.Expect(rec.Object, rec.Applied); err != nil {
		return fmt.Errorf("the snapshot refers to the database of %s at position %d: %w", rec.Object, rec.Applied, err)
	}
	m.sqlSkipped.Add(1)
	return nil
}

// SnapshotByReference reads the header of a snapshot stream and reports
// whether its databases may be held by reference (a node's own snapshot),
// so that it must go through Expand before it leaves the node.
func SnapshotByReference(r io.Reader) (bool, error) {
	h, err := readHeader(r)
	return err == nil && h.V == snapshotRefVersion, err
}

// SnapshotDatabasesInline reads the header of a snapshot stream and
// reports whether it holds databases inline: one a leader sent, or a
// backup restored, rather than the node's own.
func SnapshotDatabasesInline(r io.Reader) (bool, error) {
	h, err := readHeader(r)
	return err == nil && h.V != snapshotRefVersion && h.SQL > 0, err
}

// readHeader reads the header a snapshot stream starts with.
func readHeader(r io.Reader) (snapshotHeader, error) {
	var h snapshotHeader
	if err := DecodeWhole(msgpack.NewDecoder(r), &h); err != nil {
		return h, fmt.Errorf("read snapshot header: %w", err)
	}
	return h, nil
}

// Expand copies the snapshot r to w with every database inline, streamed
// from this node's store as it is now, one at a time: what a follower
// installs. r must be this node's own snapshot (its references point
// into this store); an aborted w (its Write failing) stops it.
func (m *Machine) Expand(r io.Reader, w io.Writer) error {
	s, err := readSnapshot(r, skipSQL)
	if err != nil {
		return err
	}
	s.sqlStore, s.sqlMu = m.opts.SQL, &m.sqlMu
	return s.write(w, true)
}
