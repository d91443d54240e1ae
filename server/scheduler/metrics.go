package scheduler

import "github.com/prometheus/client_golang/prometheus"

// Attempt results.
const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultConflict      = "conflict"
	resultError         = "error"
)

type metrics struct {
	scheduled prometheus.Counter
	latency   prometheus.Histogram
	attempts  *prometheus.CounterVec
	victims   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		scheduled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_scheduler_pods_scheduled_total", Help: "Pods bound to a node by this scheduler.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slipway_scheduler_scheduling_duration_seconds", Help: "Time from a pod being queued to its binding being committed.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_scheduler_attempts_total", Help: "Scheduling attempts by result (scheduled, unschedulable, conflict, error).",
		}, []string{"result"}),
		victims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_scheduler_preemption_victims_total", Help: "Pods deleted to make room for higher-priority pods.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.scheduled, m.latency, m.attempts, m.victims)
	}
	return m
}
