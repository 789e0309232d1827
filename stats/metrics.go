package stats

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type viewMetrics struct {
	refreshed     prometheus.Gauge
	duration      prometheus.Histogram
	errors        prometheus.Counter
	objectsRead   prometheus.Counter
	models        prometheus.Gauge
	installations prometheus.Gauge
	lastDay       prometheus.Gauge
}

// newViewMetrics registers the view's metrics with reg (none when nil).
func newViewMetrics(reg prometheus.Registerer) *viewMetrics {
	f := promauto.With(reg)
	return &viewMetrics{
		refreshed: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_stats_view_refresh_timestamp_seconds", Help: "Unix time of the last successful refresh of the statistics view.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "idmt_stats_view_refresh_duration_seconds", Help: "Duration of statistics view refreshes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		errors: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_stats_view_refresh_errors_total", Help: "Statistics view refreshes that failed (the previous state is kept).",
		}),
		objectsRead: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_stats_view_objects_read_total", Help: "Statistics documents read by view refreshes (unchanged ones are not reread).",
		}),
		models: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_stats_view_models", Help: "Heat-pump models with statistics in the view.",
		}),
		installations: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_stats_view_installations", Help: "Installations in the data pool window of the view.",
		}),
		lastDay: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_stats_view_last_day_timestamp_seconds", Help: "Start (Unix time) of the last complete UTC day the view's windows end on.",
		}),
	}
}
