package fsm

import (
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// Snapshots of SQLite-backed objects. Snapshot copies nothing of the
// databases: it clones the set of their names, in constant time. Persist
// (and a backup's Write) then streams them one at a time after the
// in-memory records, each frozen only while it is streamed
// (sqlstore.Freeze: a read transaction on a connection of its own, which
// stalls no writer), so each database is at its state at that moment —
// at or after the snapshot's index — with the applied position it holds
// recorded before its bytes. Restoring such a snapshot and replaying the
// log after its index gives every database its state at the end of the
// log: sqlstore.Store.Apply skips the commands a database already holds.
//
// Restore installs a database only if the node's own is behind the one
// streamed: a node restarted on its data directory reads its databases'
// bytes from the snapshot and drops them, and replays none of what its
// files hold.
//
// In the stream, each database is a sqlObjectRecord followed by its file
// as msgpack bin chunks of at most maxSQLChunk bytes, ended by an empty
// one, so that neither side holds more than a chunk in memory.

// sqlObjectRecord opens a database in a snapshot.
type sqlObjectRecord struct {
	Object  string `msgpack:"o"`
	Applied uint64 `msgpack:"a"` // sqlstore's applied position, as sqlPosition makes it
}

// maxSQLChunk bounds a chunk of a database in a snapshot.
const maxSQLChunk = 1 << 20

// writeSQL streams every database of s, in name order, to enc.
func (s *snapshot) writeSQL(enc *msgpack.Encoder) error {
	var err error
	s.sqlObjects.Ascend(func(object string) bool {
		err = s.writeSQLObject(enc, object)
		return err == nil
	})
	return err
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

// sqlReader is what reading a snapshot does with each database: install
// it, or read past it. from is the identity of the store it was streamed
// from.
type sqlReader func(from string, rec *sqlObjectRecord, db io.Reader) error

// readSQL reads n databases streamed from store from, giving each to use,
// and returns their objects' names.
func readSQL(dec *msgpack.Decoder, n int, from string, use sqlReader) ([]string, error) {
	names := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var rec sqlObjectRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("read database %d: %w", i, err)
		}
		cr := &chunkReader{dec: dec}
		if err := use(from, &rec, cr); err != nil {
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
func skipSQL(_ string, _ *sqlObjectRecord, db io.Reader) error {
	_, err := io.Copy(io.Discard, db)
	return err
}

// installSQL is Restore's sqlReader: it installs a database unless the
// node's own already holds its applied position or a later one. A
// snapshot this store wrote (a restart) is not even checked, database by
// database: Freeze made each recorded state durable, and a database never
// goes back, so the file, if there, holds it — opening 10,000 databases
// to ask would take a restart tens of seconds.
func (m *Machine) installSQL(from string, rec *sqlObjectRecord, db io.Reader) error {
	st := m.opts.SQL
	if st == nil {
		return errors.New("the snapshot holds SQLite-backed objects, but this node has no SQL store")
	}
	m.sqlMu.Lock() // no Persist streams it meanwhile
	defer m.sqlMu.Unlock()
	if from != "" && from == st.ID() && st.Has(rec.Object) {
		m.sqlSkipped.Add(1)
		return nil
	}
	local, err := st.Applied(rec.Object)
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

// SQLRestoreStats are how many databases snapshots restored into this
// Machine installed, and how many they skipped because the node's own
// were as new already.
func (m *Machine) SQLRestoreStats() (installed, skipped uint64) {
	return m.sqlInstalled.Load(), m.sqlSkipped.Load()
}
