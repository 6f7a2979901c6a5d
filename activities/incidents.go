package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Incidents holds the dependencies of the incident workflow's activities
// that read and write PostgreSQL: policy, validation, forecast and the
// projection plus maintenance log. Scheduling and notification live in
// their own structs (maintenance.go, notify.go).
type Incidents struct {
	DB *store.DB
}

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

// LoadPolicy returns the tenant's incident policy.
func (a *Incidents) LoadPolicy(ctx context.Context, tenant string) (store.IncidentPolicy, error) {
	return a.DB.IncidentPolicy(ctx, tenant)
}

// ValidateInput is what validation judges.
type ValidateInput struct {
	TenantID string
	AssetID  string
	Evidence Evidence
	Policy   store.IncidentPolicy
	Now      time.Time
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

// Validate scores the evidence with four rules — severity, persistence,
// deviation from the sensor's own recent baseline and the detectors'
// confidence — and discounts the weighted result by the asset's learned
// false-positive rate. It only reads, so retries are harmless.
func (a *Incidents) Validate(ctx context.Context, in ValidateInput) (Validation, error) {
	e := in.Evidence
	sensorID := e.MostSevereSensor()
	if sensorID == "" {
		return Validation{Rules: []Rule{{Name: "evidence", Detail: "no anomalies"}}}, nil
	}
	se := e.BySensor[sensorID]
	var rules []Rule

	sevScore := map[anomaly.Severity]float64{anomaly.Warning: 0.3, anomaly.Minor: 0.5, anomaly.Major: 0.8, anomaly.Critical: 1}[e.Severity]
	rules = append(rules, Rule{Name: "severity", Weight: 0.35, Score: sevScore, Detail: fmt.Sprintf("most severe anomaly is %s", e.Severity)})

	need := max(in.Policy.PersistenceReadings, 1)
	persist := math.Min(1, float64(se.Count)/float64(need))
	rules = append(rules, Rule{Name: "persistence", Weight: 0.25, Score: persist,
		Detail: fmt.Sprintf("%d anomalous readings of %s (persistent from %d)", se.Count, sensorID, need)})

	base, err := a.DB.SensorBaseline(ctx, in.TenantID, in.AssetID, sensorID, in.Now.Add(-24*time.Hour), in.Now.Truncate(time.Hour))
	if err != nil {
		return Validation{}, err
	}
	dev := Rule{Name: "baseline", Weight: 0.25, Score: 0.5, Detail: "no 24-hour baseline yet; neutral"}
	if base.N >= 30 && base.Std > 0 {
		d := math.Abs(se.LastValue-base.Mean) / base.Std
		dev.Score = math.Min(1, d/6)
		dev.Detail = fmt.Sprintf("latest %s %.4g is %.1fσ from its 24 h mean %.4g", sensorID, se.LastValue, d, base.Mean)
	}
	rules = append(rules, dev)

	maxScore := 0.0
	for _, s := range e.BySensor {
		maxScore = max(maxScore, s.MaxScore)
	}
	rules = append(rules, Rule{Name: "detectors", Weight: 0.15, Score: maxScore, Detail: fmt.Sprintf("highest detector score %.2f", maxScore)})

	approved, rejected, err := a.DB.DecisionCounts(ctx, in.TenantID, in.AssetID, in.Now.Add(-90*24*time.Hour))
	if err != nil {
		return Validation{}, err
	}
	// Laplace-smoothed, so one early rejection does not silence an asset.
	fp := float64(rejected) / float64(approved+rejected+2)
	v := Validation{Rules: rules, FalsePositiveRate: fp}
	var sum, weights float64
	for _, r := range rules {
		sum += r.Score * r.Weight
		weights += r.Weight
	}
	v.Confidence = sum / weights * (1 - 0.6*fp)
	v.Rules = append(v.Rules, Rule{Name: "feedback", Weight: 0, Score: 1 - 0.6*fp,
		Detail: fmt.Sprintf("%d rejected and %d approved incidents of this asset in 90 days discount confidence by %.0f%%", rejected, approved, 60*fp)})
	return v, nil
}

// IncidentRecord is the incident projection as the workflow sends it (the
// store type hides tenant and sequence from JSON, so it cannot travel).
type IncidentRecord struct {
	TenantID     string
	ID           string
	AssetID      string
	WorkflowID   string
	Status       string
	Resolution   string
	Severity     string
	Active       bool
	Acknowledged bool
	Assignee     string
	Confidence   float64
	Anomalies    int
	WorkOrderID  *string
	Summary      json.RawMessage
	Seq          int64
	OpenedAt     time.Time
	UpdatedAt    time.Time
	ClosedAt     *time.Time
}

// RecordInput is an incident's projection and its new log entries.
type RecordInput struct {
	Incident IncidentRecord
	Log      []store.LogEntry
}

// Record writes the incident projection and log entries. Idempotent: the
// projection only moves forward by Seq and each entry is written once. A
// write refused by a constraint (another open incident of the asset) fails
// at once with a non-retryable error of type ErrTypeConflict.
func (a *Incidents) Record(ctx context.Context, in RecordInput) error {
	r := in.Incident
	if r.Summary == nil {
		r.Summary = json.RawMessage(`{}`)
	}
	return permanent(a.DB.RecordIncident(ctx, store.Incident{
		TenantID: r.TenantID, ID: r.ID, AssetID: r.AssetID, WorkflowID: r.WorkflowID, Status: r.Status, Resolution: r.Resolution,
		Severity: r.Severity, Active: r.Active, Acknowledged: r.Acknowledged, Assignee: r.Assignee, Confidence: r.Confidence,
		Anomalies: r.Anomalies, WorkOrderID: r.WorkOrderID, Summary: r.Summary, Seq: r.Seq, OpenedAt: r.OpenedAt,
		UpdatedAt: r.UpdatedAt, ClosedAt: r.ClosedAt,
	}, in.Log))
}
