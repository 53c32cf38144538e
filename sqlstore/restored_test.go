package sqlstore

import "testing"

// TestMarkRestored: the mark names one snapshot, by the sending store and
// the applied index, survives a reopen of the store, and a later mark
// replaces it.
func TestMarkRestored(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Config{Dir: dir})
	if s.Restored("leader", 10) {
		t.Fatal("a store that never restored a snapshot reports one")
	}
	if err := s.MarkRestored("leader", 10); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from    string
		applied uint64
		want    bool
	}{{"leader", 10, true}, {"leader", 11, false}, {"other", 10, false}, {"", 10, false}} {
		if got := s.Restored(c.from, c.applied); got != c.want {
			t.Errorf("Restored(%q, %d) = %v, want %v", c.from, c.applied, got, c.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, Config{Dir: dir})
	if !s2.Restored("leader", 10) {
		t.Fatal("the mark did not survive a reopen")
	}
	if err := s2.MarkRestored("other", 20); err != nil {
		t.Fatal(err)
	}
	if s2.Restored("leader", 10) || !s2.Restored("other", 20) {
		t.Fatal("a later mark did not replace the first")
	}
	if err := s2.MarkRestored("bad id", 1); err == nil {
		t.Fatal("a store identity with a space was recorded")
	}
}
