package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics are the controller's own: how often it applies the route set,
// how long that takes, what it admitted, and its status writes.
type metrics struct {
	syncs        *prometheus.CounterVec
	syncSeconds  prometheus.Histogram
	routes       *prometheus.GaugeVec
	statusWrites *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, routerName string) *metrics {
	labels := prometheus.Labels{"router": routerName}
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_router_syncs_total", ConstLabels: labels,
			Help: "Applications of the whole route set to HAProxy, by result (ok, error)."}, []string{"result"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "slipway_router_sync_seconds", ConstLabels: labels,
			Help:    "Time to translate, apply and report the route set.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "slipway_router_routes", ConstLabels: labels,
			Help: "Routes of this router's shard by admission (admitted, rejected)."}, []string{"state"}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_router_status_writes_total", ConstLabels: labels,
			Help: "Writes of this router's entry in routes' status.ingress, by result (written, conflict, error); a conflict is written again over the newer version."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.syncSeconds, m.routes, m.statusWrites)
	}
	return m
}
