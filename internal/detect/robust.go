package detect

import (
	"fmt"
	"math"
	"sync"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/ml/stats"
)

// RobustZ flags readings whose robust z-score against the sensor's own
// recent behaviour (a streaming median and MAD, see stats.Robust) exceeds
// Threshold. Sensors of kind "counter", "meter" or "cumulative" are skipped,
// and so are those of FeatureSensorKind, which a bound model judges. It learns every reading, so a lasting level shift becomes the
// new normal within a few hundred readings. Until a sensor's tracker is
// warm (32 readings, see stats.Robust.Warm) it stays silent: a MAD from a
// handful of readings is too rough for a 6σ threshold and made new sensors
// raise false alarms.
//
// State lives in this process. Behind several API replicas each learns from
// the readings it receives, which for one sensor posting through a load
// balancer is a random sample of the same stream.
type RobustZ struct {
	// Threshold is |z| from which a reading is anomalous; Major and Critical
	// start at 1.5× and 2.5× of it.
	Threshold float64
	// Alpha is the trackers' adaptation rate.
	Alpha float64

	shards [64]robustShard
}

type robustShard struct {
	mu sync.Mutex
	m  map[int64]*stats.Robust
}

// The ingest path's robust z-score settings; backtests replay with the same.
const (
	// DefaultRobustThreshold is the |z| above which a reading is anomalous.
	DefaultRobustThreshold = 6
	// DefaultRobustAlpha is the trackers' adaptation rate.
	DefaultRobustAlpha = 0.05
)

// NewRobustZ returns a detector with threshold |z| (6 when not positive:
// about one false alarm in 10^9 Gaussian readings) and adaptation rate alpha.
func NewRobustZ(threshold, alpha float64) *RobustZ {
	if threshold <= 0 {
		threshold = 6
	}
	d := &RobustZ{Threshold: threshold, Alpha: alpha}
	for i := range d.shards {
		d.shards[i].m = map[int64]*stats.Robust{}
	}
	return d
}

// Name implements Detector.
func (d *RobustZ) Name() string { return "robust-z" }

// Observe implements Detector: it scores the reading against what came
// before, then learns it.
func (d *RobustZ) Observe(r Reading) Finding {
	if cumulative(r.Sensor.Kind) {
		return Finding{}
	}
	sh := &d.shards[uint64(r.Sensor.Key)%uint64(len(d.shards))]
	sh.mu.Lock()
	tr := sh.m[r.Sensor.Key]
	if tr == nil {
		t := stats.NewRobust(d.Alpha)
		tr = &t
		sh.m[r.Sensor.Key] = tr
	}
	warm := tr.Warm()
	median, sigma := tr.Median(), tr.Sigma()
	tr.Update(r.Value)
	sh.mu.Unlock()
	if !warm {
		return Finding{}
	}
	// A quantised or stuck sensor has a MAD of zero; floor σ at 0.1% of the
	// level so the next tiny step is not "infinitely" abnormal.
	z := (r.Value - median) / max(sigma, 1e-3*math.Abs(median), 1e-9)

	az := math.Abs(z)
	if az < d.Threshold {
		return Finding{}
	}
	sev := anomaly.Minor
	switch {
	case az >= 2.5*d.Threshold:
		sev = anomaly.Critical
	case az >= 1.5*d.Threshold:
		sev = anomaly.Major
	}
	// Score rises from 0.5 at the threshold towards 1.
	score := 1 - 0.5*math.Exp(-(az-d.Threshold)/d.Threshold)
	dir := 1
	if z < 0 {
		dir = -1
	}
	return Finding{Anomalous: true, Score: score, Severity: sev, Direction: dir,
		Reason: fmt.Sprintf("%g %s is %.1fσ from its recent median %.4g (σ≈%.3g)", r.Value, r.Sensor.Unit, z, median, sigma)}
}

// FeatureSensorKind is the kind of a sensor whose values an asset's edge
// computes as a bound model's input (a rolling mean, a slope, a vibration
// snapshot's kurtosis): the model judges them, not a z-score against their
// recent median, which their trends and window effects would trip.
const FeatureSensorKind = "feature"

// cumulative reports sensor kinds whose value only grows (running hours,
// tool wear, energy meters), whose normal growth a z-score against the
// recent median would flag, and model features (FeatureSensorKind).
func cumulative(kind string) bool {
	switch kind {
	case "counter", "meter", "cumulative", FeatureSensorKind:
		return true
	}
	return false
}

// Forget drops the learnt state of a sensor (after maintenance, say).
func (d *RobustZ) Forget(sensorKey int64) {
	sh := &d.shards[uint64(sensorKey)%uint64(len(d.shards))]
	sh.mu.Lock()
	delete(sh.m, sensorKey)
	sh.mu.Unlock()
}
