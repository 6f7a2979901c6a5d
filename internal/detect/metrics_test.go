package detect

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/smartmaint/smartmaint/internal/store"
)

// TestScoreIsMeasured: every Score call is one observation of
// smartmaint_scoring_duration_seconds and adds its readings to
// smartmaint_scored_readings_total.
func TestScoreIsMeasured(t *testing.T) {
	e := &Engine{Detectors: []Detector{Threshold{}}}
	s := &store.Sensor{ID: "torque", AlarmHigh: new(70.0)}
	rows := []store.Reading{{TS: time.Unix(1, 0), Value: 1}, {TS: time.Unix(2, 0), Value: 2}, {TS: time.Unix(3, 0), Value: 90}}
	sensors := []*store.Sensor{s, s, s}
	readings, calls := testutil.ToFloat64(scoredReadings), histogramCount(t)
	if got := e.Score("acme", rows, sensors); len(got) != 1 {
		t.Fatalf("%d anomalies, want 1", len(got))
	}
	e.Score("acme", rows[:1], sensors[:1])
	if d := testutil.ToFloat64(scoredReadings) - readings; d != 4 {
		t.Errorf("scored readings grew by %g, want 4", d)
	}
	if d := histogramCount(t) - calls; d != 2 {
		t.Errorf("scoring duration observed %d times, want 2", d)
	}
}

func histogramCount(t *testing.T) uint64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	scoreDuration.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// BenchmarkObserveScore is what measuring adds to each Score call (one
// request's readings).
func BenchmarkObserveScore(b *testing.B) {
	for b.Loop() {
		observeScore(time.Now(), 100)
	}
}
