// Package anomaly is the vocabulary of anomalies: an anomalous reading as
// the detectors report it, and the severities that grade it. The detectors,
// the ingest outbox, the incident workflow and the reports share it.
package anomaly

import "time"

// Severity grades an anomaly, as in alarm systems.
type Severity string

// Severities from least to most severe.
const (
	Warning  Severity = "warning"
	Minor    Severity = "minor"
	Major    Severity = "major"
	Critical Severity = "critical"
)

// Severities lists every severity, least severe first.
var Severities = []Severity{Warning, Minor, Major, Critical}

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

// Valid reports whether s is one of the severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// Max returns the more severe of s and o.
func (s Severity) Max(o Severity) Severity {
	if o.Rank() > s.Rank() {
		return o
	}
	return s
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
