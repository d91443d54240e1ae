package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_apiserver_requests_total",
			Help: "API requests by resource, verb and HTTP status code.",
		}, []string{"resource", "verb", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_apiserver_request_duration_seconds",
			Help:    "API request latency by resource and verb (watches: the stream's lifetime).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"resource", "verb"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *metrics) observe(resource, verb string, code int, d time.Duration) {
	m.requests.WithLabelValues(resource, verb, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(resource, verb).Observe(d.Seconds())
}
