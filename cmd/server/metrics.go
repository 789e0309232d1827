package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	inflight   prometheus.Gauge
	rejections *prometheus.CounterVec
	panics     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idmt_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"route"}),
		bytesIn: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_http_request_bytes_total", Help: "Request bytes received (Content-Length) by route pattern.",
		}, []string{"route"}),
		bytesOut: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_http_response_bytes_total", Help: "Response bytes sent by route pattern.",
		}, []string{"route"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_http_in_flight_requests", Help: "Requests being served.",
		}),
		rejections: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_http_rejections_total", Help: "Requests refused before reaching a handler, by reason: unauthorized, forbidden, rate_limited, plain_http.",
		}, []string{"reason"}),
		panics: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_http_panics_total", Help: "Handler panics recovered (each is a bug).",
		}),
	}
}
