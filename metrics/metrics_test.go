package metrics

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves s.Handler once and parses it with Prometheus' parser.
func scrape(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return fams
}

func TestSetRecordsWhatItIsTold(t *testing.T) {
	s := New()
	open := 3.0
	s.GaugeFunc("watches_open", "open watches", func() float64 { return open })
	s.CounterFunc("sql_database_opens_total", "opens", func() float64 { return 7 })
	s.Request("/:name", "GET", 200, time.Millisecond, false)
	s.Request("/:name", "GET", 200, time.Millisecond, false)
	s.Request("/:name/watch", "GET", 200, time.Minute, true)
	s.Entry(8, 2*time.Millisecond, nil)
	s.Entry(2, time.Millisecond, errors.New("lost"))
	s.Applied(4, time.Millisecond)
	s.LeaderChanged()
	s.Snapshot(time.Second, nil)
	s.SocketOpened()

	fams := scrape(t, s)
	counter := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("no family %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dobj_http_requests_total", map[string]string{"route": "/:name", "code": "200"}, 2},
		{"dobj_http_requests_total", map[string]string{"route": "/:name/watch"}, 1},
		{"dobj_http_request_duration_seconds", map[string]string{"route": "/:name"}, 2},
		{"dobj_raft_proposals_total", nil, 10},
		{"dobj_raft_proposals_failed_total", nil, 2},
		{"dobj_raft_batch_commands", nil, 2},
		{"dobj_raft_commit_duration_seconds", nil, 1},
		{"dobj_fsm_apply_duration_seconds", nil, 1},
		{"dobj_raft_leader_changes_total", nil, 1},
		{"dobj_fsm_snapshots_total", map[string]string{"result": "ok"}, 1},
		{"dobj_fsm_snapshots_total", map[string]string{"result": "error"}, 0},
		{"dobj_websockets_open", nil, 1},
		{"dobj_watches_open", nil, 3},
		{"dobj_sql_database_opens_total", nil, 7},
	}
	for _, tt := range tests {
		if got := counter(tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, ok := fams["dobj_http_request_duration_seconds"]; ok {
		for _, m := range fams["dobj_http_request_duration_seconds"].Metric {
			for _, l := range m.Label {
				if l.GetValue() == "/:name/watch" {
					t.Error("a watch stream's duration was timed")
				}
			}
		}
	}
}

func TestSetsAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.LeaderChanged()
	if got := scrape(t, b)["dobj_raft_leader_changes_total"].Metric[0].Counter.GetValue(); got != 0 {
		t.Fatalf("another node's set counted %v leader changes", got)
	}
}
