package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	rows     prometheus.Counter
	batches  *prometheus.CounterVec
	size     prometheus.Histogram
	commit   prometheus.Histogram
	rejected prometheus.Counter
	// duplicates and conflicts count readings already stored with the same
	// value (acknowledged, not stored) and with another value (refused).
	duplicates prometheus.Counter
	conflicts  prometheus.Counter
}

var defaultMetrics = &metrics{
	rows: promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_ingest_rows_total",
		Help: "Readings committed to PostgreSQL.",
	}),
	batches: promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_ingest_batches_total",
		Help: "Group-commit transactions by result (ok, error).",
	}, []string{"result"}),
	size: promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "smartmaint_ingest_batch_rows",
		Help:    "Readings per group-commit transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9),
	}),
	commit: promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "smartmaint_ingest_commit_duration_seconds",
		Help:    "Time to COPY and commit one batch.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}),
	rejected: promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_ingest_queue_rejected_total",
		Help: "Requests turned away because the commit queue stayed full until their deadline.",
	}),
	duplicates: promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_ingest_duplicates_total",
		Help: "Readings already stored with the same sensor, timestamp and value: acknowledged, not stored again.",
	}),
	conflicts: promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_ingest_conflicts_total",
		Help: "Readings refused because their sensor and timestamp are stored with a different value.",
	}),
}

// observe records one batch: rows written (stored plus duplicates), of them
// dups duplicates.
func (m *metrics) observe(d time.Duration, rows, dups int, err error) {
	if err != nil {
		m.batches.WithLabelValues("error").Inc()
		return
	}
	m.batches.WithLabelValues("ok").Inc()
	m.rows.Add(float64(rows - dups))
	m.duplicates.Add(float64(dups))
	m.size.Observe(float64(rows))
	m.commit.Observe(d.Seconds())
}
