package watch

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
)

// publish reports one change of object's key "value" at index.
func publish(h *Hub, index uint64, object string) {
	h.ObjectsChanged([]fsm.ObjectChange{{Index: index, Object: object,
		Changes: []objects.Change{{Key: "value", Value: json.RawMessage(strconv.FormatUint(index, 10))}}}})
}

// indexes drains what s has now: backlog, then buffered live events.
func indexes(s *Sub) []uint64 {
	var out []uint64
	for {
		page, done := s.Backlog(2) // small pages, to page through
		for _, e := range page {
			out = append(out, e.Index)
		}
		if done {
			break
		}
	}
	for {
		select {
		case e := <-s.C():
			out = append(out, e.Index)
		default:
			return out
		}
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResumeDeliversExactlyTheLaterChanges(t *testing.T) {
	h := NewHub(Options{})
	for i := uint64(1); i <= 6; i++ {
		publish(h, i, []string{"a", "b"}[i%2])
	}
	tests := []struct {
		name  string
		since uint64
		from  bool
		want  []uint64
	}{
		{"from the start", 0, true, []uint64{2, 4, 6, 8}},
		{"after 2", 2, true, []uint64{4, 6, 8}},
		{"after 5, between a's changes", 5, true, []uint64{6, 8}},
		{"ahead of the hub", 9, true, nil},
		{"from now", 0, false, []uint64{8}},
	}
	var subs []*Sub
	for _, tt := range tests {
		s, err := h.Subscribe("a", tt.since, tt.from, "")
		if err != nil {
			t.Fatal(tt.name, err)
		}
		subs = append(subs, s)
	}
	publish(h, 7, "b")
	publish(h, 8, "a")
	for i, tt := range tests {
		if got := indexes(subs[i]); !equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if h.Open() != len(tests) {
		t.Fatalf("open = %d", h.Open())
	}
	for _, s := range subs {
		s.Close()
	}
	if h.Open() != 0 {
		t.Fatalf("open after close = %d", h.Open())
	}
}

func TestHistoryIsBoundedAndOlderResumesAreGone(t *testing.T) {
	h := NewHub(Options{MaxEvents: 3})
	for i := uint64(1); i <= 10; i++ {
		publish(h, i, "a")
	}
	_, err := h.Subscribe("a", 6, true, "")
	var gone *GoneError
	if !errors.As(err, &gone) || gone.Oldest != 7 {
		t.Fatalf("resume after 6 = %v, want gone with oldest 7", err)
	}
	s, err := h.Subscribe("a", 7, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(s); !equal(got, []uint64{8, 9, 10}) {
		t.Fatalf("resume after 7 = %v", got)
	}

	byBytes := NewHub(Options{MaxBytes: 1})
	publish(byBytes, 1, "a")
	publish(byBytes, 2, "a")
	if oldest, newest := byBytes.Bounds(); oldest != 2 || newest != 2 {
		t.Fatalf("byte-bounded history = (%d, %d), want (2, 2)", oldest, newest)
	}
}

func TestSlowWatcherIsCutNotWaitedFor(t *testing.T) {
	h := NewHub(Options{Buffer: 2})
	slow, _ := h.Subscribe("a", 0, false, "")
	for i := uint64(1); i <= 5; i++ {
		publish(h, i, "a") // must not block
	}
	<-slow.Done()
	if !errors.Is(slow.Err(), ErrSlow) {
		t.Fatalf("err = %v, want ErrSlow", slow.Err())
	}
	if got := indexes(slow); !equal(got, []uint64{1, 2}) {
		t.Fatalf("buffered before the cut = %v", got)
	}
	// It resumes after the last index it got, missing nothing.
	again, err := h.Subscribe("a", 2, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(again); !equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("resumed = %v", got)
	}
}

func TestRestoreCutsWatchersAndForgetsHistory(t *testing.T) {
	h := NewHub(Options{})
	publish(h, 1, "a")
	s, _ := h.Subscribe("a", 0, false, "")
	h.Restored(50)
	<-s.Done()
	if !errors.Is(s.Err(), ErrReset) {
		t.Fatalf("err = %v, want ErrReset", s.Err())
	}
	var gone *GoneError
	if _, err := h.Subscribe("a", 1, true, ""); !errors.As(err, &gone) || gone.Oldest != 50 {
		t.Fatalf("resume from before the snapshot = %v", err)
	}
	if _, err := h.Subscribe("a", 50, true, ""); err != nil {
		t.Fatalf("resume at the snapshot: %v", err)
	}
}

func TestEventDataFiltersByPrefix(t *testing.T) {
	e := newEvent(3, "o", []objects.Change{{Key: "a/1", Value: json.RawMessage("1")}, {Key: "b/1", Deleted: true}})
	tests := []struct{ prefix, want string }{
		{"", `{"index":3,"object":"o","changes":[{"key":"a/1","value":1},{"key":"b/1","deleted":true}]}`},
		{"b/", `{"index":3,"object":"o","changes":[{"key":"b/1","deleted":true}]}`},
		{"c", ""},
	}
	for _, tt := range tests {
		if got := string(e.Data(tt.prefix)); got != tt.want {
			t.Errorf("prefix %q: %s, want %s", tt.prefix, got, tt.want)
		}
	}
}

func TestCloseCutsAndRefuses(t *testing.T) {
	h := NewHub(Options{})
	s, _ := h.Subscribe("a", 0, false, "")
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("err = %v", s.Err())
	}
	if _, err := h.Subscribe("a", 0, false, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close = %v", err)
	}
}

func TestBacklogPagesWithoutSkippingAnIndex(t *testing.T) {
	h := NewHub(Options{})
	// Several objects share each index, as a group-committed entry does.
	for i := uint64(1); i <= 20; i++ {
		var cs []fsm.ObjectChange
		for _, o := range []string{"x", "a", "y"} {
			cs = append(cs, fsm.ObjectChange{Index: i, Object: o, Changes: []objects.Change{{Key: "k", Value: json.RawMessage("1")}}})
		}
		h.ObjectsChanged(cs)
	}
	s, err := h.Subscribe("a", 3, true, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for {
		page, done := s.Backlog(1)
		if len(page) > 1 {
			t.Fatalf("page of %d, asked for 1", len(page))
		}
		for _, e := range page {
			got = append(got, e.Index)
		}
		if done {
			break
		}
	}
	var want []uint64
	for i := uint64(4); i <= 20; i++ {
		want = append(want, i)
	}
	if !equal(got, want) {
		t.Fatalf("paged backlog = %v, want %v", got, want)
	}
}

func TestBacklogOverrunByTheHistoryCutsTheWatcher(t *testing.T) {
	h := NewHub(Options{MaxEvents: 4})
	for i := uint64(1); i <= 4; i++ {
		publish(h, i, "a")
	}
	s, err := h.Subscribe("a", 0, true, "")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := s.Backlog(1)
	if len(page) != 1 || page[0].Index != 1 {
		t.Fatalf("first page %v", page)
	}
	for i := uint64(5); i <= 8; i++ {
		publish(h, i, "b") // the history drops 2..4 before the watcher reads them
	}
	if page, done := s.Backlog(10); len(page) != 0 || !done {
		t.Fatalf("after the overrun: page %v, done %v", page, done)
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrSlow) {
		t.Fatalf("err = %v, want ErrSlow", s.Err())
	}
}

func TestWatchersAreBounded(t *testing.T) {
	h := NewHub(Options{MaxWatchers: 2})
	a, _ := h.Subscribe("a", 0, false, "")
	if _, err := h.Subscribe("b", 0, false, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe("c", 0, false, ""); !errors.Is(err, ErrTooMany) {
		t.Fatalf("third watch = %v, want ErrTooMany", err)
	}
	a.Close()
	if _, err := h.Subscribe("c", 0, false, ""); err != nil {
		t.Fatalf("a watch after one closed: %v", err)
	}
}
