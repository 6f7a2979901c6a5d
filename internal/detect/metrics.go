package detect

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	scoreDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "smartmaint_scoring_duration_seconds",
		Help: "Time Engine.Score took to score one ingest request's readings with every detector.",
		// From a few microseconds (one reading) to tens of milliseconds
		// (a 10,000-reading batch through the model detector).
		Buckets: prometheus.ExponentialBuckets(2e-6, 4, 10),
	})
	scoredReadings = promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_scored_readings_total",
		Help: "Readings scored at ingest; with smartmaint_scoring_duration_seconds_sum it gives the time per reading.",
	})
)

// observeScore records one Score call that started at start.
func observeScore(start time.Time, readings int) {
	scoreDuration.Observe(time.Since(start).Seconds())
	scoredReadings.Add(float64(readings))
}
