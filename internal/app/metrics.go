package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// metrics are the service's Prometheus metrics. Labels never carry a token
// or a URL: destinations are named by their name in the rules file.
type metrics struct {
	reg *prometheus.Registry

	accepted    prometheus.Counter
	duplicates  prometheus.Counter
	rejected    *prometheus.CounterVec
	storeFull   prometheus.Counter
	matches     *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	evaluated   prometheus.Counter

	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
	reloadAttempt  prometheus.Gauge
	reloadErrors   prometheus.Gauge
	reloads        *prometheus.CounterVec
	reloadDuration prometheus.Histogram
	rulesLoaded    prometheus.Gauge
	rulesInfo      *prometheus.GaugeVec

	commitBatch    *prometheus.HistogramVec
	fsyncBatch     prometheus.Histogram
	commitDuration *prometheus.HistogramVec

	pruned *prometheus.CounterVec
}

func newMetrics(st store.Backend) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_events_accepted_total", Help: "Webhook payloads stored durably and answered 202."})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_events_duplicate_total", Help: "Payloads that repeat a message already accepted (answered 200)."})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_events_rejected_total", Help: "Webhook requests refused, by reason."}, []string{"reason"})
	m.storeFull = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_store_full_total", Help: "Payloads refused with 503 because the disk budget was exhausted. Alert on any increase."})
	m.matches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_rule_matches_total", Help: "Events matched, by rule."}, []string{"rule"})
	m.evaluated = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_events_evaluated_total", Help: "Events evaluated against the rules."})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_deliveries_total", Help: "Delivery attempts, by kind, destination and outcome (done, retry, dead)."}, []string{"kind", "destination", "outcome"})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_dead_letters_total",
		Help: "Deliveries that gave up (became dead letters), by destination and rule. Alert on any increase; replay them with switchboard replay."},
		[]string{"destination", "rule"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "switchboard_delivery_duration_seconds", Help: "Duration of one delivery attempt.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"kind"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rules_last_reload_successful", Help: "1 if the last rules (re)load succeeded."})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rules_last_reload_success_timestamp_seconds", Help: "Time of the last successful rules load."})
	m.reloadAttempt = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rules_last_reload_timestamp_seconds", Help: "Time of the last rules (re)load, successful or not."})
	m.reloadErrors = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rules_last_reload_errors", Help: "Errors (each with its file:line:col, see GET /status) of the last rules (re)load; 0 if it succeeded."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_rules_reloads_total", Help: "Rules loads (startup included) by result: success, failure."}, []string{"result"})
	m.reloadDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "switchboard_rules_reload_duration_seconds", Help: "Duration of one rules (re)load: read, compile, validate, run the tests, swap.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	m.rulesLoaded = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rules_loaded", Help: "Rules in the running rule set."})
	m.rulesInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_rules_info", Help: "The running rules version (1 for the current one)."}, []string{"version"})
	m.commitBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "switchboard_store_commit_batch_size", Help: "Write requests per committed store transaction (group commit), by sync mode: full (fsynced: holds appends) or normal.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	}, []string{"sync"})
	m.fsyncBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "switchboard_store_fsync_batch_size", Help: "Durable writes (appends and quarantined bodies) per fsynced store commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.commitDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "switchboard_store_commit_duration_seconds", Help: "Duration of one store COMMIT, by sync mode; with sync=full it includes the fsync.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	}, []string{"sync"})
	m.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_store_pruned_total", Help: "Rows deleted by retention (--retention), by table."}, []string{"table"})
	m.observePruned(store.Pruned{}) // every table's series from the start
	for _, c := range []prometheus.Collector{m.pruned, m.commitBatch, m.fsyncBatch, m.commitDuration, m.accepted, m.duplicates, m.rejected, m.storeFull, m.matches, m.evaluated, m.deliveries, m.deadLetters, m.latency, m.reloadOK, m.reloadTime,
		m.reloadAttempt, m.reloadErrors, m.reloads, m.reloadDuration, m.rulesLoaded, m.rulesInfo} {
		f(c)
	}
	stats := func(pick func(store.Stats) int64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := st.Stats(ctx)
			if err != nil {
				return -1
			}
			return float64(pick(s))
		}
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_queue_depth", Help: "Deliveries waiting to be sent or retried."}, stats(func(s store.Stats) int64 { return s.Pending })))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_dead_letters", Help: "Deliveries that gave up (replay them with switchboard replay)."}, stats(func(s store.Stats) int64 { return s.Dead })))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_backlog_bytes", Help: "Bytes of accepted events not yet evaluated (bounded by the disk budget)."}, stats(func(s store.Stats) int64 { return s.BacklogBytes })))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_quarantined", Help: "Bodies that failed to parse, kept for replay."}, stats(func(s store.Stats) int64 { return s.Quarantined })))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "switchboard_throttled_total", Help: "Matches whose actions a throttle: dropped (since start)."}, stats(func(s store.Stats) int64 { return s.Throttled })))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_store_bytes", Help: "Size of the store's files on disk (database and write-ahead log)."}, func() float64 { return float64(st.Bytes()) }))
	return m
}

// observePruned counts what one retention pass deleted.
func (m *metrics) observePruned(p store.Pruned) {
	for table, n := range map[string]int64{"events": p.Events, "matches": p.Matches, "jobs": p.Jobs, "attempts": p.Attempts, "quarantine": p.Quarantine, "runs": p.Runs} {
		m.pruned.WithLabelValues(table).Add(float64(n))
	}
}

// observeCommit is the store's Options.OnCommit: it feeds the commit
// histograms. The store calls it on its writer goroutine, before it answers
// the batch's requests; commits made before newMetrics ran (at startup) are
// not observed.
func (a *App) observeCommit(c store.CommitInfo) {
	m := a.metrics
	if m == nil {
		return
	}
	mode := "normal"
	if c.Durable > 0 {
		mode = "full"
		m.fsyncBatch.Observe(float64(c.Durable))
	}
	m.commitBatch.WithLabelValues(mode).Observe(float64(c.Requests))
	m.commitDuration.WithLabelValues(mode).Observe(c.Took.Seconds())
}

// healthCollector reports each failing destination at scrape time:
// switchboard_destination_paused{destination} is 1 while it is paused, 0
// while it fails without being paused yet.
type healthCollector struct {
	desc   *prometheus.Desc
	health func() []delivery.Health
}

func newHealthCollector(health func() []delivery.Health) healthCollector {
	return healthCollector{health: health, desc: prometheus.NewDesc("switchboard_destination_paused",
		"1 for a destination paused after failing repeatedly (only probes are sent until one succeeds), 0 for one failing but not paused; healthy destinations are absent.",
		[]string{"destination"}, nil)}
}

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.health() {
		v := 0.0
		if h.Paused {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, h.Destination)
	}
}
