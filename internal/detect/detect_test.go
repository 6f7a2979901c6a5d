package detect

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/store"
)

func f(v float64) *float64 { return &v }

func TestThreshold(t *testing.T) {
	s := &store.Sensor{Key: 1, AssetID: "mill", ID: "temp", Unit: "K", WarnHigh: f(310), AlarmHigh: f(315), WarnLow: f(290), AlarmLow: f(285)}
	tests := []struct {
		v      float64
		sev    anomaly.Severity
		reason string
	}{
		{300, "", ""},
		{310, "", ""}, // at the limit is not past it
		{312.5, anomaly.Warning, "above the warning limit 310"},
		{315.5, anomaly.Major, "above the alarm limit 315"},
		{320.5, anomaly.Critical, "above the alarm limit 315"},
		{289, anomaly.Warning, "below the warning limit 290"},
		{284, anomaly.Major, "below the alarm limit 285"},
		{270, anomaly.Critical, "below the alarm limit"},
	}
	for _, tt := range tests {
		got := Threshold{}.Observe(Reading{Sensor: s, Value: tt.v})
		if got.Anomalous != (tt.sev != "") || got.Severity != tt.sev || !strings.Contains(got.Reason, tt.reason) {
			t.Errorf("%g: %+v, want severity %q reason %q", tt.v, got, tt.sev, tt.reason)
		}
		if got.Anomalous && (tt.v > 300) != (got.Direction > 0) {
			t.Errorf("%g: direction %d", tt.v, got.Direction)
		}
		if got.Anomalous && (got.Score < 0.6 || got.Score > 1) {
			t.Errorf("%g: score %g out of [0.6, 1]", tt.v, got.Score)
		}
	}
	// Only an alarm limit: past it is major, never critical.
	only := &store.Sensor{AlarmHigh: f(10)}
	if got := (Threshold{}).Observe(Reading{Sensor: only, Value: 100}); got.Severity != anomaly.Major {
		t.Errorf("alarm-only sensor: %+v", got)
	}
	// No limits at all: silent.
	if got := (Threshold{}).Observe(Reading{Sensor: &store.Sensor{}, Value: 1e9}); got.Anomalous {
		t.Errorf("sensor without limits flagged: %+v", got)
	}
}

func TestRobustZ(t *testing.T) {
	d := NewRobustZ(6, 0.05)
	s := &store.Sensor{Key: 7, Unit: "Nm"}
	rng := rand.New(rand.NewPCG(1, 1))
	falseAlarms := 0
	for range 5000 {
		if d.Observe(Reading{Sensor: s, Value: 40 + rng.NormFloat64()}).Anomalous {
			falseAlarms++
		}
	}
	if falseAlarms > 2 {
		t.Errorf("%d false alarms in 5000 normal readings", falseAlarms)
	}
	tests := []struct {
		v   float64
		sev anomaly.Severity
	}{
		{40.5, ""},
		{47.5, anomaly.Minor},    // ~7.5σ
		{50.5, anomaly.Major},    // ~10σ
		{60, anomaly.Critical},   // ~20σ
		{40 - 11, anomaly.Major}, // low side too
	}
	for _, tt := range tests {
		got := d.Observe(Reading{Sensor: s, Value: tt.v})
		if got.Anomalous != (tt.sev != "") || got.Severity != tt.sev {
			t.Errorf("%g: %+v, want %q", tt.v, got, tt.sev)
		}
	}
	// Another sensor has its own state: silent while warming up.
	other := &store.Sensor{Key: 8}
	if got := d.Observe(Reading{Sensor: other, Value: 1e6}); got.Anomalous {
		t.Errorf("cold sensor flagged: %+v", got)
	}
	// A stuck sensor's next small step is not an anomaly...
	stuck := &store.Sensor{Key: 9, Unit: "rpm"}
	for range 100 {
		d.Observe(Reading{Sensor: stuck, Value: 1500})
	}
	if got := d.Observe(Reading{Sensor: stuck, Value: 1501}); got.Anomalous {
		t.Errorf("stuck sensor's 1 rpm step flagged: %+v", got)
	}
	// ...but a real jump is.
	if got := d.Observe(Reading{Sensor: stuck, Value: 1700}); !got.Anomalous {
		t.Error("stuck sensor's jump to 1700 rpm not flagged")
	}
	// Counters grow by nature and are not judged; nor are model features,
	// which their model judges (a window's slope jumps when an engine is
	// overhauled).
	wear := &store.Sensor{Key: 10, Kind: "counter", Unit: "min"}
	slope := &store.Sensor{Key: 11, Kind: FeatureSensorKind, Unit: "degR/cycle"}
	for i := range 300 {
		if got := d.Observe(Reading{Sensor: wear, Value: float64(i * 2)}); got.Anomalous {
			t.Fatalf("counter flagged at %d: %+v", i*2, got)
		}
		v := 0.01
		if i == 299 {
			v = 50
		}
		if got := d.Observe(Reading{Sensor: slope, Value: v}); got.Anomalous {
			t.Fatalf("feature flagged at %d: %+v", i, got)
		}
	}
	d.Forget(7)
	if got := d.Observe(Reading{Sensor: s, Value: 60}); got.Anomalous {
		t.Errorf("forgotten sensor still judged: %+v", got)
	}
}

// calmTorque is n calm readings of mill-1's torque (sensor 3, warning
// above 60, alarm above 70), one a second from the epoch, with the sensor
// of each.
func calmTorque(n int) (s *store.Sensor, rows []store.Reading, sensors []*store.Sensor) {
	s = &store.Sensor{Key: 3, AssetID: "mill-1", ID: "torque", Unit: "Nm", WarnHigh: f(60), AlarmHigh: f(70)}
	for i := range n {
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: 3, TS: time.Unix(int64(i), 0), Value: 40 + float64(i%5)*0.1})
		sensors = append(sensors, s)
	}
	return s, rows, sensors
}

func TestEngineCombines(t *testing.T) {
	rz := NewRobustZ(6, 0.05)
	e := &Engine{Detectors: []Detector{Threshold{}, rz}, Now: func() time.Time { return time.Unix(100, 0) }}
	s, rows, sensors := calmTorque(200)
	rows = append(rows, store.Reading{TenantID: "acme", SensorKey: 3, TS: time.Unix(500, 0), Value: 90})
	sensors = append(sensors, s)
	got := e.Score("acme", rows, sensors)
	if len(got) != 1 {
		t.Fatalf("anomalies = %+v, want only the last reading", got)
	}
	a := got[0]
	if a.AssetID != "mill-1" || a.SensorID != "torque" || a.Value != 90 || a.Severity != anomaly.Critical ||
		a.Detector != "threshold+robust-z" || !strings.Contains(a.Reason, "alarm limit") || !strings.Contains(a.Reason, "σ") ||
		len(a.ID) != 36 || !a.DetectedAt.Equal(time.Unix(100, 0)) || a.Direction != 1 {
		t.Errorf("anomaly = %+v", a)
	}
}

func TestSeverityOrder(t *testing.T) {
	if anomaly.Warning.Max(anomaly.Critical) != anomaly.Critical || anomaly.Major.Max(anomaly.Minor) != anomaly.Major || anomaly.Severity("").Max(anomaly.Warning) != anomaly.Warning {
		t.Error("Max does not follow the order warning < minor < major < critical")
	}
}

// BenchmarkEngine is the per-reading cost on the ingest path with the
// built-in detectors (no anomaly).
func BenchmarkEngine(b *testing.B) {
	e := &Engine{Detectors: []Detector{Threshold{}, NewRobustZ(6, 0.05)}}
	sensors := make([]*store.Sensor, 100)
	for i := range sensors {
		sensors[i] = &store.Sensor{Key: int64(i), WarnHigh: f(1e9), AlarmHigh: f(2e9)}
	}
	rows := make([]store.Reading, 1000)
	ss := make([]*store.Sensor, 1000)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range rows {
		ss[i] = sensors[i%100]
		rows[i] = store.Reading{SensorKey: int64(i % 100), Value: 50 + rng.NormFloat64()}
	}
	e.Score("t", rows, ss) // warm the trackers
	b.ResetTimer()
	k := 0
	for b.Loop() {
		k++
		for i := range rows { // new readings each time, not re-sent ones
			rows[i].TS = time.Unix(int64(k), int64(i))
		}
		e.Score("t", rows, ss)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/reading")
}

// TestRobustZFalseAlarms runs many Gaussian sensors from their first reading:
// neither the cold start nor the tracker's own wander may raise alarms.
func TestRobustZFalseAlarms(t *testing.T) {
	d := NewRobustZ(6, 0.05)
	rng := rand.New(rand.NewPCG(3, 3))
	const sensors, readings = 500, 2000
	var early, late int
	for k := range sensors {
		s := &store.Sensor{Key: int64(k), Unit: "bar"}
		for i := range readings {
			if d.Observe(Reading{Sensor: s, Value: 50 + 5*rng.NormFloat64()}).Anomalous {
				if i < 100 {
					early++
				} else {
					late++
				}
			}
		}
	}
	// A true 6σ rule expects 0.002 false alarms in these 10^6 readings.
	if early > 0 || late > 2 {
		t.Errorf("%d false alarms in the first 100 readings of %d sensors and %d in the next %d each; want 0 and at most 2",
			early, sensors, late, readings-100)
	}
}
