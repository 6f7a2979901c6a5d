package incident

import (
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
)

// SensorEvidence summarises one sensor's anomalies in an incident.
type SensorEvidence struct {
	Count     int              `json:"count"`
	Severity  anomaly.Severity `json:"severity"`
	MaxScore  float64          `json:"max_score"`
	LastValue float64          `json:"last_value"`
	LastTS    time.Time        `json:"last_ts"`
	// Direction is +1 when most anomalies were high, -1 when most were low.
	Direction int `json:"direction"`
	// High and Low count the anomalies in each direction.
	High int `json:"high"`
	Low  int `json:"low"`
}

// Evidence is what an incident has collected.
type Evidence struct {
	Anomalies int                        `json:"anomalies"`
	First     time.Time                  `json:"first"`
	Last      time.Time                  `json:"last"`
	Severity  anomaly.Severity           `json:"severity"`
	BySensor  map[string]*SensorEvidence `json:"by_sensor"`
	// Recent keeps the latest anomalies, newest last.
	Recent []anomaly.Anomaly `json:"recent"`
}

// RecentKept is how many anomalies Evidence.Recent keeps.
const RecentKept = 20

// Add folds anomalies into the evidence.
func (e *Evidence) Add(as ...anomaly.Anomaly) {
	if e.BySensor == nil {
		e.BySensor = map[string]*SensorEvidence{}
	}
	for _, a := range as {
		e.Anomalies++
		if e.First.IsZero() || a.TS.Before(e.First) {
			e.First = a.TS
		}
		if a.TS.After(e.Last) {
			e.Last = a.TS
		}
		e.Severity = e.Severity.Max(a.Severity)
		s := e.BySensor[a.SensorID]
		if s == nil {
			s = &SensorEvidence{}
			e.BySensor[a.SensorID] = s
		}
		s.Count++
		s.Severity = s.Severity.Max(a.Severity)
		s.MaxScore = max(s.MaxScore, a.Score)
		switch {
		case a.Direction > 0:
			s.High++
		case a.Direction < 0:
			s.Low++
		}
		s.Direction = 0
		if s.High > s.Low {
			s.Direction = 1
		} else if s.Low > s.High {
			s.Direction = -1
		}
		if !a.TS.Before(s.LastTS) {
			s.LastValue, s.LastTS = a.Value, a.TS
		}
		e.Recent = append(e.Recent, a)
	}
	if len(e.Recent) > RecentKept {
		e.Recent = slices.Clone(e.Recent[len(e.Recent)-RecentKept:])
	}
}

// MostSevereSensor is the sensor with the highest severity, then the most
// anomalies, then the smallest id.
func (e *Evidence) MostSevereSensor() string {
	best := ""
	for id, s := range e.BySensor {
		if best == "" {
			best = id
			continue
		}
		b := e.BySensor[best]
		if s.Severity.Rank() > b.Severity.Rank() ||
			s.Severity.Rank() == b.Severity.Rank() && (s.Count > b.Count || s.Count == b.Count && id < best) {
			best = id
		}
	}
	return best
}

// Rule is one validation rule's verdict.
type Rule struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Weight float64 `json:"weight"`
	Detail string  `json:"detail"`
}

// Validation is the verdict on an incident's evidence.
type Validation struct {
	// Confidence in [0, 1] that the incident is a real fault.
	Confidence float64 `json:"confidence"`
	Rules      []Rule  `json:"rules"`
	// FalsePositiveRate is the learned share of this asset's incidents that
	// people rejected.
	FalsePositiveRate float64 `json:"false_positive_rate"`
}
