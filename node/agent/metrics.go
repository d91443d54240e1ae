package agent

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	podsRunning       prometheus.Gauge
	reconcileErrors   prometheus.Counter
	podStartLatency   prometheus.Histogram
	heartbeatFailures prometheus.Counter
	containerRestarts prometheus.Counter
	logRotations      prometheus.Counter
	imageGCImages     prometheus.Counter
	imageGCBytes      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		podsRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slipway_node_pods_running", Help: "Pods whose containers all run on this node."}),
		reconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_reconcile_errors_total", Help: "Pod reconciles that failed and will be retried."}),
		podStartLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slipway_node_pod_start_seconds", Help: "Time from pod creation in the API to all its containers running.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_heartbeat_failures_total", Help: "Lease renewals or node status writes that failed."}),
		containerRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_container_restarts_total", Help: "Containers restarted by their restart policy or a failed liveness probe."}),
		logRotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_container_log_rotations_total", Help: "Container logs rotated for reaching the size limit."}),
		imageGCImages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_image_gc_images_total", Help: "Unused images deleted by image garbage collection."}),
		imageGCBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_node_image_gc_reclaimed_bytes_total", Help: "Content size of the images deleted by image garbage collection (layers shared with kept images included)."}),
	}
	if reg != nil {
		reg.MustRegister(m.podsRunning, m.reconcileErrors, m.podStartLatency, m.heartbeatFailures, m.containerRestarts,
			m.logRotations, m.imageGCImages, m.imageGCBytes)
	}
	return m
}
