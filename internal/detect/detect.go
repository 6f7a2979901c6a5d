// Package detect scores every ingested reading in process, in microseconds,
// and turns the anomalous ones into Anomaly records for the incident
// workflow.
//
// An Engine runs a list of Detectors over each reading. The built-in ones
// are Threshold (the sensor's warn/alarm limits) and RobustZ (a streaming
// median/MAD z-score per sensor, for sensors without limits and for drift
// inside the limits). Model-based detectors (Isolation Forest on an asset's
// feature vector) implement the same interface.
package detect

import (
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Severity grades an anomaly, as in alarm systems.
type Severity string

// Severities from least to most severe.
const (
	Warning  Severity = "warning"
	Minor    Severity = "minor"
	Major    Severity = "major"
	Critical Severity = "critical"
)

// Rank orders severities: 0 for none or unknown, 4 for critical.
func (s Severity) Rank() int {
	switch s {
	case Warning:
		return 1
	case Minor:
		return 2
	case Major:
		return 3
	case Critical:
		return 4
	}
	return 0
}

// Max returns the more severe of s and o.
func (s Severity) Max(o Severity) Severity {
	if o.Rank() > s.Rank() {
		return o
	}
	return s
}

// Reading is what a detector sees.
type Reading struct {
	Tenant string
	Sensor *store.Sensor
	TS     time.Time
	Value  float64
}

// Finding is a detector's verdict on one reading.
type Finding struct {
	Anomalous bool
	// Score in [0, 1]: how sure the detector is that the reading is abnormal.
	Score    float64
	Severity Severity
	Reason   string
	// Direction is +1 for an abnormally high reading, -1 for a low one.
	Direction int
}

// Detector judges readings. Implementations must be safe for concurrent use
// and fast: Observe runs for every ingested reading.
type Detector interface {
	Name() string
	Observe(r Reading) Finding
}

// Anomaly is an anomalous reading with the detectors' verdicts combined.
type Anomaly struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	AssetID   string    `json:"asset_id"`
	SensorID  string    `json:"sensor_id"`
	SensorKey int64     `json:"-"`
	TS        time.Time `json:"ts"`
	Value     float64   `json:"value"`
	Score     float64   `json:"score"`
	Severity  Severity  `json:"severity"`
	Detector  string    `json:"detector"`
	Reason    string    `json:"reason"`
	// Direction is +1 when the reading was abnormally high, -1 when low.
	Direction int `json:"direction"`
	// DetectedAt is when the API scored the reading (for latency metrics).
	DetectedAt time.Time `json:"detected_at"`
}

// Engine runs detectors over readings.
type Engine struct {
	Detectors []Detector
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Score observes every reading and returns the anomalous ones. sensors[i]
// is the sensor of rows[i].
func (e *Engine) Score(tenant string, rows []store.Reading, sensors []*store.Sensor) []Anomaly {
	defer observeScore(time.Now(), len(rows))
	var out []Anomaly
	for i := range rows {
		r := Reading{Tenant: tenant, Sensor: sensors[i], TS: rows[i].TS, Value: rows[i].Value}
		var a *Anomaly
		for _, d := range e.Detectors {
			f := d.Observe(r)
			if !f.Anomalous {
				continue
			}
			if a == nil {
				out = append(out, Anomaly{
					TenantID: tenant, AssetID: r.Sensor.AssetID, SensorID: r.Sensor.ID, SensorKey: r.Sensor.Key,
					TS: r.TS, Value: r.Value,
				})
				a = &out[len(out)-1]
			}
			if a.Direction == 0 {
				a.Direction = f.Direction
			}
			a.Score = max(a.Score, f.Score)
			a.Severity = a.Severity.Max(f.Severity)
			a.Detector = join(a.Detector, d.Name(), "+")
			a.Reason = join(a.Reason, f.Reason, "; ")
		}
	}
	if len(out) > 0 {
		now := time.Now
		if e.Now != nil {
			now = e.Now
		}
		t := now()
		for i := range out {
			out[i].ID = uuid.Must(uuid.NewV7()).String()
			out[i].DetectedAt = t
		}
	}
	return out
}

func join(a, b, sep string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// Threshold flags readings beyond the sensor's operating limits: past a warn
// limit is a warning, past an alarm limit major, and past the alarm limit by
// more than the warn-to-alarm band again is critical.
type Threshold struct{}

// Name implements Detector.
func (Threshold) Name() string { return "threshold" }

// Observe implements Detector.
func (Threshold) Observe(r Reading) Finding {
	s, v := r.Sensor, r.Value
	if f, ok := beyond(v, s.WarnHigh, s.AlarmHigh, +1, s.Unit); ok {
		return f
	}
	if f, ok := beyond(v, s.WarnLow, s.AlarmLow, -1, s.Unit); ok {
		return f
	}
	return Finding{}
}

// beyond checks one side; dir is +1 for high limits and -1 for low ones.
func beyond(v float64, warn, alarm *float64, dir float64, unit string) (Finding, bool) {
	side := "above"
	if dir < 0 {
		side = "below"
	}
	past := func(limit float64) bool { return (v-limit)*dir > 0 }
	if alarm != nil && past(*alarm) {
		sev, score := Major, 0.9
		if warn != nil {
			band := math.Abs(*alarm - *warn)
			if band > 0 && math.Abs(v-*alarm) > band {
				sev, score = Critical, 1
			}
		}
		return Finding{Anomalous: true, Score: score, Severity: sev, Direction: int(dir),
			Reason: fmt.Sprintf("%g %s is %s the alarm limit %g", v, unit, side, *alarm)}, true
	}
	if warn != nil && past(*warn) {
		score := 0.6
		if alarm != nil && *alarm != *warn {
			// Closer to the alarm limit, surer.
			score = 0.6 + 0.3*math.Min(1, math.Abs(v-*warn)/math.Abs(*alarm-*warn))
		}
		return Finding{Anomalous: true, Score: score, Severity: Warning, Direction: int(dir),
			Reason: fmt.Sprintf("%g %s is %s the warning limit %g", v, unit, side, *warn)}, true
	}
	return Finding{}, false
}
