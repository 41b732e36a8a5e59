package archive

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the archiver's Prometheus counters and its lag collector.
type metrics struct {
	reg                                *prometheus.Registry
	written, rejected, retries, errors *prometheus.CounterVec

	mu      sync.Mutex
	lastErr map[string]string
}

func newMetrics(a *Archiver) *metrics {
	cv := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "telemesh", Subsystem: "archive", Name: name, Help: help}, []string{"sink"})
	}
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		written:  cv("points_written_total", "Points the sink acknowledged."),
		rejected: cv("points_rejected_total", "Points the sink refused for good (e.g. a field type conflict)."),
		retries:  cv("retries_total", "Sink writes retried."),
		errors:   cv("errors_total", "Sink writes that failed."),
		lastErr:  map[string]string{},
	}
	for _, s := range a.cfg.Sinks {
		for _, c := range []*prometheus.CounterVec{m.written, m.rejected, m.retries, m.errors} {
			c.WithLabelValues(s.Name)
		}
	}
	m.reg.MustRegister(m.written, m.rejected, m.retries, m.errors, lagCollector{a})
	return m
}

func (m *metrics) setError(sink string, err error) {
	m.mu.Lock()
	m.lastErr[sink] = err.Error()
	m.mu.Unlock()
}

func (m *metrics) sinkStatus(name, typ string) SinkStatus {
	get := func(c *prometheus.CounterVec) int64 {
		var d dto.Metric
		c.WithLabelValues(name).Write(&d)
		return int64(d.GetCounter().GetValue())
	}
	m.mu.Lock()
	last := m.lastErr[name]
	m.mu.Unlock()
	return SinkStatus{Name: name, Type: typ, Written: get(m.written), Rejected: get(m.rejected),
		Retries: get(m.retries), Errors: get(m.errors), LastError: last}
}

var (
	lagDesc = prometheus.NewDesc("telemesh_archive_lag_seconds",
		"Age of the newest point written, per sink and node.", []string{"sink", "node"}, nil)
	cursorLagDesc = prometheus.NewDesc("telemesh_archive_cursor_lag_seconds",
		"How far the durable cursor is behind now, per sink and node.", []string{"sink", "node"}, nil)
	droppedDesc = prometheus.NewDesc("telemesh_archive_live_dropped_total",
		"Live batches dropped because the sink was slow (read back from the node).", []string{"sink", "node"}, nil)
)

// lagCollector reports each worker's lag at scrape time, so a stalled
// node's lag keeps growing.
type lagCollector struct{ a *Archiver }

func (lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- cursorLagDesc
	ch <- droppedDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, w := range c.a.workers() {
		s := w.status(now)
		if s.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, s.Lag, w.sink, w.node)
		}
		if s.CursorLag >= 0 {
			ch <- prometheus.MustNewConstMetric(cursorLagDesc, prometheus.GaugeValue, s.CursorLag, w.sink, w.node)
		}
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(s.LiveDropped), w.sink, w.node)
	}
}
