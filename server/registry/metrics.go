package registry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	bytesIn        prometheus.Counter
	bytesOut       prometheus.Counter
	blobsStored    prometheus.Counter
	blobsMounted   prometheus.Counter
	blobsCollected prometheus.Counter
	manifests      prometheus.Counter
	gcRuns         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_registry_requests_total",
			Help: "Registry requests by method, route (base, catalog, blobs, uploads, manifests, tags) and HTTP status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_registry_request_duration_seconds",
			Help:    "Registry request latency by method and route.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120},
		}, []string{"method", "route"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_received_bytes_total", Help: "Blob and manifest bytes pushed to the registry.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_sent_bytes_total", Help: "Response bytes the registry sent (blobs, manifests, lists).",
		}),
		blobsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_blobs_stored_total", Help: "Blob uploads completed with a verified digest.",
		}),
		blobsMounted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_blobs_mounted_total", Help: "Blobs mounted from another repository without an upload.",
		}),
		blobsCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_blobs_collected_total", Help: "Unreferenced blobs deleted by garbage collection.",
		}),
		manifests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_registry_manifests_pushed_total", Help: "Manifests and indexes pushed.",
		}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_registry_gc_runs_total", Help: "Garbage collection runs by result (ok, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.blobsStored, m.blobsMounted, m.blobsCollected, m.manifests, m.gcRuns)
	}
	return m
}

func (m *metrics) request(method, route string, code int, d time.Duration) {
	if code == 0 {
		code = 200
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}
