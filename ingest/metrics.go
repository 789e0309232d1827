package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	batches        *prometheus.CounterVec
	records        prometheus.Counter
	droppedRecords *prometheus.CounterVec
	droppedFields  *prometheus.CounterVec
	rejections     *prometheus.CounterVec
	bodyBytes      prometheus.Counter
	landedBytes    prometheus.Counter
	landing        prometheus.Histogram
	group          prometheus.Histogram
	inflight       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		batches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_ingest_batches_total",
			Help: "Submissions that reached landing, by outcome: accepted, duplicate (already landed), empty, failed (storage error, answered 503).",
		}, []string{"outcome"}),
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_ingest_records_total",
			Help: "Records landed durably.",
		}),
		droppedRecords: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_ingest_dropped_records_total",
			Help: "Records dropped from accepted batches, by reason.",
		}, []string{"reason"}),
		droppedFields: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_ingest_dropped_fields_total",
			Help: "Field values dropped from kept records, by reason.",
		}, []string{"reason"}),
		rejections: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_ingest_rejections_total",
			Help: "Submissions refused as a whole, by reason.",
		}, []string{"reason"}),
		bodyBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_ingest_body_bytes_total",
			Help: "Submission body bytes read (after inflating gzip or zstd).",
		}),
		landedBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "idmt_ingest_landed_bytes_total",
			Help: "Compressed bytes written to the landing zone.",
		}),
		landing: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "idmt_ingest_landing_seconds",
			Help:    "Time to write a batch durably to the bucket.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		group: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "idmt_ingest_landing_group_batches",
			Help:    "Batches in the landing object each newly landed batch was written in: concurrent batches are committed together (1 = written alone).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 7),
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "idmt_ingest_inflight_bytes",
			Help: "Body bytes held by submissions being processed.",
		}),
	}
	// Series exist from the start, so that increase() sees the first one.
	for _, o := range []string{"accepted", "duplicate", "empty", "failed"} {
		m.batches.WithLabelValues(o)
	}
	return m
}

func (m *metrics) count(s *Submission) {
	// Records and fields share the reason space; a reason belongs to one.
	for reason, n := range s.Drops.Reasons {
		switch reason {
		case DropInvalidName, DropReservedName, DropString, DropNull, DropNested, DropBadNumber:
			m.droppedFields.WithLabelValues(reason).Add(float64(n))
		default:
			m.droppedRecords.WithLabelValues(reason).Add(float64(n))
		}
	}
}
