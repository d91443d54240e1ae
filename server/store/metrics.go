package store

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	opSeconds   *prometheus.HistogramVec
	batchSize   prometheus.Histogram
	feedLagSecs prometheus.Histogram
	watchers    func() float64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		opSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_store_operation_duration_seconds",
			Help:    "Latency of store operations, by operation.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"operation"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slipway_store_commit_batch_size",
			Help:    "Writes grouped into one transaction by the group committer.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		feedLagSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slipway_store_feed_batch_duration_seconds",
			Help:    "Time to read one batch of new revisions from the log for the watch feed.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.opSeconds, m.batchSize, m.feedLagSecs)
	}
	return m
}
