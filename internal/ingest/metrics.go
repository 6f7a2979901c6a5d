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
}

func (m *metrics) observe(d time.Duration, rows int, err error) {
	if err != nil {
		m.batches.WithLabelValues("error").Inc()
		return
	}
	m.batches.WithLabelValues("ok").Inc()
	m.rows.Add(float64(rows))
	m.size.Observe(float64(rows))
	m.commit.Observe(d.Seconds())
}
