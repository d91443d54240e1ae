package builder

import "github.com/prometheus/client_golang/prometheus"

// Build steps timed by slipway_node_build_step_seconds.
const (
	stepFetch     = "fetch"
	stepArtifacts = "save-artifacts"
	stepAssemble  = "assemble"
	stepCommit    = "commit"
	stepPush      = "push"
)

type metrics struct {
	builds   *prometheus.CounterVec
	duration prometheus.Histogram
	steps    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_node_builds_total", Help: "Builds run on this node, by how they ended (Completed, Error, OOMKilled, DeadlineExceeded, Cancelled)."},
			[]string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slipway_node_build_seconds", Help: "Duration of builds run on this node, from the executor's start to the push.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14)}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_node_build_step_seconds", Help: "Duration of each step of successful builds (fetch, save-artifacts, assemble, commit, push).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 18)}, []string{"step"}),
	}
	if reg != nil {
		reg.MustRegister(m.builds, m.duration, m.steps)
	}
	return m
}
