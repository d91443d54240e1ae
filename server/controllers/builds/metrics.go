package builds

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the build machinery's Prometheus metrics.
type Metrics struct {
	started    *prometheus.CounterVec
	finished   *prometheus.CounterVec
	duration   prometheus.Histogram
	deliveries *prometheus.CounterVec
}

// NewMetrics registers the build metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_builds_started_total", Help: "Builds started, by cause (Manual, GitHub, GitLab, Generic, ImageChange, ConfigChange).",
		}, []string{"cause"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_builds_finished_total", Help: "Builds finished, by phase (Complete, Failed, Cancelled, Error).",
		}, []string{"phase"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slipway_build_duration_seconds", Help: "Run time of finished builds, from their pod's start.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800},
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhook_deliveries_total", Help: "Webhook deliveries past the URL secret, by type and result (Triggered, Ignored, Rejected, Duplicate).",
		}, []string{"type", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.started, m.finished, m.duration, m.deliveries)
	}
	return m
}

func (m *Metrics) buildStarted(cause string) {
	if m != nil {
		m.started.WithLabelValues(cause).Inc()
	}
}

func (m *Metrics) buildFinished(phase string, d time.Duration) {
	if m != nil {
		m.finished.WithLabelValues(phase).Inc()
		if d > 0 {
			m.duration.Observe(d.Seconds())
		}
	}
}

func (m *Metrics) delivery(typ, result string) {
	if m != nil {
		m.deliveries.WithLabelValues(typ, result).Inc()
	}
}
