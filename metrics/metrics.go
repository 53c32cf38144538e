// Package metrics holds one node's Prometheus metrics: a registry of its
// own (no global default registry, so several nodes in one process, as in
// tests, keep theirs apart) and the collectors that api, cluster and watch
// update. GET /metrics serves Handler. It imports nothing of the project.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "dobj"

// Set is one node's metrics. A nil *Set records nothing, so code that may
// run without metrics (tests, tools) calls its methods unguarded.
type Set struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestSeconds  *prometheus.HistogramVec
	proposals       prometheus.Counter
	batchCommands   prometheus.Histogram
	commitSeconds   prometheus.Histogram
	proposalsFailed prometheus.Counter
	applySeconds    prometheus.Histogram
	applyEntries    prometheus.Histogram
	leaderChanges   prometheus.Counter
	snapshots       *prometheus.CounterVec
	snapshotSeconds prometheus.Histogram
	socketsOpen     prometheus.Gauge
}

// New returns a Set registered in a registry of its own, with Go's
// runtime and process collectors.
func New() *Set {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	s := &Set{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method (watch streams are left out: they last as long as the watcher stays).",
			Buckets: latency,
		}, []string{"route", "method"}),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "raft", Name: "proposals_total",
			Help: "Commands this node proposed to the Raft log as leader (writes, no-ops, membership).",
		}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "raft", Name: "proposals_failed_total",
			Help: "Commands whose log entry failed (not leader, leadership lost, shutdown).",
		}),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "raft", Name: "batch_commands",
			Help:    "Commands per Raft entry: the size of each group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "raft", Name: "commit_duration_seconds",
			Help:    "Time from handing an entry to Raft until it is committed and applied on the leader.",
			Buckets: latency,
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "fsm", Name: "apply_duration_seconds",
			Help:    "Time the state machine takes to apply one batch of committed entries.",
			Buckets: latency,
		}),
		applyEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "fsm", Name: "apply_entries",
			Help:    "Log entries per batch the state machine applies.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "raft", Name: "leader_changes_total",
			Help: "Times this node saw a new leader (itself or another).",
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "fsm", Name: "snapshots_total",
			Help: "Snapshots of the state machine written, by result (ok, error).",
		}, []string{"result"}),
		snapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "fsm", Name: "snapshot_duration_seconds",
			Help:    "Time to capture and persist one snapshot.",
			Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "websockets_open",
			Help: "WebSocket connections open on this node.",
		}),
	}
	reg.MustRegister(s.requests, s.requestSeconds, s.proposals, s.proposalsFailed, s.batchCommands,
		s.commitSeconds, s.applySeconds, s.applyEntries, s.leaderChanges, s.snapshots, s.snapshotSeconds, s.socketsOpen)
	s.snapshots.WithLabelValues("ok")
	s.snapshots.WithLabelValues("error")
	return s
}

// Handler serves the registry in Prometheus' text (or negotiated) format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// GaugeFunc registers a gauge read from fn at each scrape (sizes owned by
// other packages: open watches, the idempotency table, indexes).
func (s *Set) GaugeFunc(name, help string, fn func() float64) {
	if s == nil {
		return
	}
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read from fn at each scrape (totals
// another package keeps: databases opened).
func (s *Set) CounterFunc(name, help string, fn func() float64) {
	if s == nil {
		return
	}
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, fn))
}

// Request records one answered HTTP request; watch streams record no
// duration.
func (s *Set) Request(route, method string, code int, took time.Duration, stream bool) {
	if s == nil {
		return
	}
	s.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	if !stream {
		s.requestSeconds.WithLabelValues(route, method).Observe(took.Seconds())
	}
}

// Entry records one Raft entry of commands proposed by this node.
func (s *Set) Entry(commands int, took time.Duration, err error) {
	if s == nil {
		return
	}
	s.proposals.Add(float64(commands))
	s.batchCommands.Observe(float64(commands))
	if err != nil {
		s.proposalsFailed.Add(float64(commands))
		return
	}
	s.commitSeconds.Observe(took.Seconds())
}

// Applied records one batch the state machine applied.
func (s *Set) Applied(entries int, took time.Duration) {
	if s == nil {
		return
	}
	s.applyEntries.Observe(float64(entries))
	s.applySeconds.Observe(took.Seconds())
}

// LeaderChanged records a new leader.
func (s *Set) LeaderChanged() {
	if s == nil {
		return
	}
	s.leaderChanges.Inc()
}

// Snapshot records one snapshot written (or failed).
func (s *Set) Snapshot(took time.Duration, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.snapshots.WithLabelValues("error").Inc()
		return
	}
	s.snapshots.WithLabelValues("ok").Inc()
	s.snapshotSeconds.Observe(took.Seconds())
}

// SocketOpened and SocketClosed keep the open WebSocket gauge.
func (s *Set) SocketOpened() {
	if s != nil {
		s.socketsOpen.Inc()
	}
}

// SocketClosed is SocketOpened's pair.
func (s *Set) SocketClosed() {
	if s != nil {
		s.socketsOpen.Dec()
	}
}
