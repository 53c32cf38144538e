package sqlstore

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// TestPoolBound: touching many objects keeps at most MaxOpen handles
// open, and an object whose handle was closed still has its data.
func TestPoolBound(t *testing.T) {
	s := open(t, Config{MaxOpen: 4})
	create := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}, {Op: OpSQL, SQL: "INSERT INTO t VALUES (?)", Args: []any{int64(0)}}}
	for i := range 20 {
		create[1].Args[0] = int64(i)
		if err := s.Apply(fmt.Sprintf("obj-%d", i), 1, Env{}, create); err != nil {
			t.Fatal(err)
		}
		if n := s.OpenHandles(); n > 4 {
			t.Fatalf("after %d objects %d handles are open, over the bound of 4", i+1, n)
		}
	}
	for i := range 20 {
		rows := query(t, s, fmt.Sprintf("obj-%d", i), "SELECT v FROM t")
		if rows[0][0] != int64(i) {
			t.Fatalf("obj-%d holds %v after its handle was closed", i, rows[0][0])
		}
	}
	if s.opened < 40 {
		t.Fatalf("%d opens for 40 uses of 20 objects through 4 handles: the pool did not evict", s.opened)
	}
}

// TestPoolKeepsHandlesInUse: sessions in progress are never closed under
// their callers; the pool goes over its bound only while they last.
func TestPoolKeepsHandlesInUse(t *testing.T) {
	s := open(t, Config{MaxOpen: 2})
	var sessions []*Session
	for i := range 5 {
		sess, err := s.Begin(fmt.Sprintf("o%d", i), Env{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Exec("CREATE TABLE t (v)"); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sess)
	}
	if n := s.OpenHandles(); n != 5 {
		t.Fatalf("%d handles open with 5 sessions in progress", n)
	}
	for _, sess := range sessions {
		if _, err := sess.Exec("INSERT INTO t VALUES (1)"); err != nil {
			t.Fatalf("a session whose handle is over the bound: %v", err)
		}
		if err := sess.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.OpenHandles(); n > 2 {
		t.Fatalf("%d handles open after the sessions ended, over the bound of 2", n)
	}
}

// TestConcurrentObjects: calls on many objects from many goroutines,
// through a small pool (bounded by count, or by memory), each object
// counting its own increments.
func TestConcurrentObjects(t *testing.T) {
	t.Run("count", func(t *testing.T) { concurrentObjects(t, Config{MaxOpen: 3}) })
	t.Run("memory", func(t *testing.T) { concurrentObjects(t, Config{MaxOpenBytes: 3 << 19}) })
}

func concurrentObjects(t *testing.T, cfg Config) {
	s := open(t, cfg)
	const objects, workers, incs = 8, 8, 20
	for i := range objects {
		if err := s.Apply(fmt.Sprintf("o%d", i), 0, Env{}, []Statement{{Op: OpSQL, SQL: "CREATE TABLE c (v INTEGER)"}, {Op: OpSQL, SQL: "INSERT INTO c VALUES (0)"}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range incs {
				obj := fmt.Sprintf("o%d", (w+j)%objects)
				sess, err := s.Begin(obj, Env{})
				if err != nil {
					errs <- err
					return
				}
				_, err = sess.Exec("UPDATE c SET v = v + 1 RETURNING v")
				log := sess.Log()
				_ = sess.Rollback()
				if err == nil {
					err = s.Apply(obj, 0, Env{}, log)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var total int64
	for i := range objects {
		total += query(t, s, fmt.Sprintf("o%d", i), "SELECT v FROM c")[0][0].(int64)
	}
	if total != workers*incs {
		t.Fatalf("counted %d increments, want %d", total, workers*incs)
	}
	if cfg.MaxOpenBytes > 0 && s.OpenBytes() > cfg.MaxOpenBytes {
		t.Fatalf("idle, the open databases count %d bytes, over the bound of %d", s.OpenBytes(), cfg.MaxOpenBytes)
	}
	if s.opened <= objects {
		t.Fatalf("%d opens for %d objects through a small pool: it did not evict", s.opened, objects)
	}
}

// TestPoolCloseLeavesLog: a handle the pool closes does not checkpoint
// (which syncs the database, and made an open cost a disk sync): its
// write-ahead log stays for the next open, which reads the data from it.
func TestPoolCloseLeavesLog(t *testing.T) {
	s := open(t, Config{MaxOpen: 1})
	create := []Statement{{Op: OpSQL, SQL: "CREATE TABLE t (v)"}, {Op: OpSQL, SQL: "INSERT INTO t VALUES (7)"}}
	if err := s.Apply("a", 1, Env{}, create); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply("b", 1, Env{}, create); err != nil { // closes a's handle
		t.Fatal(err)
	}
	if n := s.OpenHandles(); n != 1 {
		t.Fatalf("%d handles open, want 1", n)
	}
	fi, err := os.Stat(s.Path("a") + "-wal")
	if err != nil || fi.Size() == 0 {
		t.Fatalf("a's log after its handle closed: %v, %v; want it kept, not checkpointed", fi, err)
	}
	if rows := query(t, s, "a", "SELECT v FROM t"); len(rows) != 1 || rows[0][0] != int64(7) {
		t.Fatalf("a holds %v after reopening over its log", rows)
	}
}

// TestHandleCacheBounded: an open database's page cache is cacheKiB,
// not SQLite's 2 MB default, so that DefaultMaxOpen handles fit in
// memory.
func TestHandleCacheBounded(t *testing.T) {
	s := open(t, Config{})
	h, err := s.acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(h)
	var got int64
	if _, err := h.internalQuery("PRAGMA cache_size", func(st *sqlite3.Stmt) error {
		got = st.ColumnInt64(0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != -cacheKiB {
		t.Fatalf("cache_size is %d, want %d (KiB)", got, -cacheKiB)
	}
	if s.cfg.MaxOpen != DefaultMaxOpen {
		t.Fatalf("MaxOpen defaults to %d, want %d", s.cfg.MaxOpen, DefaultMaxOpen)
	}
}

// TestPoolBoundsMemory: the pool bounds its handles' WebAssembly memory
// (MaxOpenBytes), and a database that has held a large row counts for
// what its memory grew to, so fewer others stay open beside it.
func TestPoolBoundsMemory(t *testing.T) {
	small := []Statement{{Op: OpPut, Args: []any{"k", []byte("v")}}}
	one := open(t, Config{})
	if err := one.Apply("o", 1, Env{}, small); err != nil {
		t.Fatal(err)
	}
	fresh := one.OpenBytes()
	if fresh < 64<<10 {
		t.Fatalf("one open database counts %d bytes: the memory probe does not read a WebAssembly memory", fresh)
	}
	bound := 16 * fresh
	s := open(t, Config{MaxOpen: 1000, MaxOpenBytes: bound})
	for i := range 40 {
		if err := s.Apply(fmt.Sprintf("obj-%d", i), 1, Env{}, small); err != nil {
			t.Fatal(err)
		}
		if b := s.OpenBytes(); b > bound {
			t.Fatalf("after %d objects the open databases count %d bytes, over the bound of %d", i+1, b, bound)
		}
	}
	if n := s.OpenHandles(); n < 12 || n > 16 {
		t.Fatalf("%d small databases open within a bound of 16 fresh ones", n)
	}

	big := []Statement{{Op: OpPut, Args: []any{"k", make([]byte, 1<<20)}}}
	if err := s.Apply("big", 1, Env{}, big); err != nil {
		t.Fatal(err)
	}
	sess, err := s.BeginRead("big", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := sess.Get("k"); err != nil || len(v) != 1<<20 {
		t.Fatalf("reading the large value: %d bytes, %v", len(v), err)
	}
	if err := sess.Rollback(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	h, open := s.handles["big"]
	grown := int64(0)
	if open {
		grown = h.counted
	}
	s.mu.Unlock()
	if !open {
		t.Fatal("the database used last was closed")
	}
	if grown < 4*fresh {
		t.Fatalf("a database that held a 1 MiB row counts %d bytes, a fresh one %d", grown, fresh)
	}
	if b := s.OpenBytes(); b > bound {
		t.Fatalf("the open databases count %d bytes, over the bound of %d", b, bound)
	}
	if n := s.OpenHandles(); n > 16-int(grown/fresh)+1 {
		t.Fatalf("%d databases open beside one that counts as %d fresh ones, within a bound of 16", n, grown/fresh)
	}
}

// TestPoolClosesAHandleOverTheWholeBound: a database whose memory alone
// is over MaxOpenBytes is closed as soon as it is given back, and its
// data is there when it is opened again.
func TestPoolClosesAHandleOverTheWholeBound(t *testing.T) {
	s := open(t, Config{MaxOpenBytes: 1 << 20})
	big := make([]byte, 1<<20)
	big[0], big[len(big)-1] = 1, 2
	if err := s.Apply("big", 1, Env{}, []Statement{{Op: OpPut, Args: []any{"k", big}}}); err != nil {
		t.Fatal(err)
	}
	if n, b := s.OpenHandles(), s.OpenBytes(); n != 0 || b != 0 {
		t.Fatalf("%d databases (%d bytes) open after one over the whole bound was given back", n, b)
	}
	sess, err := s.BeginRead("big", Env{})
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := sess.Get("k")
	if rerr := sess.Rollback(); err == nil {
		err = rerr
	}
	if err != nil || !ok || len(v) != len(big) || v[0] != 1 || v[len(v)-1] != 2 {
		t.Fatalf("after reopening: %d bytes, found %v, %v", len(v), ok, err)
	}
	if s.Opened() != 2 {
		t.Fatalf("%d opens, want 2: the database was not closed between its uses", s.Opened())
	}
}
