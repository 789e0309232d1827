package jobs

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	halted      *prometheus.GaugeVec
	leaseHeld   prometheus.Gauge
}

// newMetrics registers the runner's metrics with reg; a nil reg keeps them
// unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		runs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_jobs_runs_total",
			Help: "Attempts of a job that ended, by outcome (done, nothing, retry, failed, halted).",
		}, []string{"job", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "idmt_jobs_duration_seconds",
			Help:    "Duration of an attempt of a job.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10), // 0.1 s to 7 h
		}, []string{"job"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idmt_jobs_last_success_timestamp_seconds",
			Help: "When a job last ended done or nothing to do, as a Unix time.",
		}, []string{"job"}),
		halted: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idmt_jobs_halted",
			Help: "1 while a job is halted because an invariant broke, else 0.",
		}, []string{"job"}),
		leaseHeld: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_jobs_lease_held",
			Help: "1 while this scheduler holds the bucket's job lease, else 0.",
		}),
	}
}
