package activities

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Incidents holds the dependencies of the incident workflow's activities
// that read and write PostgreSQL: policy, validation, forecast and the
// projection plus maintenance log. Scheduling and notification live in
// their own structs (maintenance.go, notify.go).
type Incidents struct {
	DB *store.DB
	// Registry and Bindings, when both are set, let Forecast use the
	// champion of the model bound to the asset's type as modelkind.RUL or
	// modelkind.BearingHealth; without them it projects the sensor trend.
	Registry *registry.Registry
	Bindings *binding.Store
}

// LoadPolicy returns the tenant's incident policy.
func (a *Incidents) LoadPolicy(ctx context.Context, tenant string) (incident.Policy, error) {
	return a.DB.IncidentPolicy(ctx, tenant)
}

// ValidateInput is what validation judges.
type ValidateInput struct {
	TenantID string
	AssetID  string
	Evidence incident.Evidence
	Policy   incident.Policy
	Now      time.Time
}

// Validate scores the evidence with four rules — severity, persistence,
// deviation from the sensor's own recent baseline and the detectors'
// confidence — and discounts the weighted result by the asset's learned
// false-positive rate. It only reads, so retries are harmless.
func (a *Incidents) Validate(ctx context.Context, in ValidateInput) (incident.Validation, error) {
	e := in.Evidence
	sensorID := e.MostSevereSensor()
	if sensorID == "" {
		return incident.Validation{Rules: []incident.Rule{{Name: "evidence", Detail: "no anomalies"}}}, nil
	}
	se := e.BySensor[sensorID]
	var rules []incident.Rule

	sevScore := map[anomaly.Severity]float64{anomaly.Warning: 0.3, anomaly.Minor: 0.5, anomaly.Major: 0.8, anomaly.Critical: 1}[e.Severity]
	rules = append(rules, incident.Rule{Name: "severity", Weight: 0.35, Score: sevScore, Detail: fmt.Sprintf("most severe anomaly is %s", e.Severity)})

	need := max(in.Policy.PersistenceReadings, 1)
	persist := math.Min(1, float64(se.Count)/float64(need))
	rules = append(rules, incident.Rule{Name: "persistence", Weight: 0.25, Score: persist,
		Detail: fmt.Sprintf("%d anomalous readings of %s (persistent from %d)", se.Count, sensorID, need)})

	base, err := a.DB.SensorBaseline(ctx, in.TenantID, in.AssetID, sensorID, in.Now.Add(-24*time.Hour), in.Now.Truncate(time.Hour))
	if err != nil {
		return incident.Validation{}, err
	}
	dev := incident.Rule{Name: "baseline", Weight: 0.25, Score: 0.5, Detail: "no 24-hour baseline yet; neutral"}
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
	rules = append(rules, incident.Rule{Name: "detectors", Weight: 0.15, Score: maxScore, Detail: fmt.Sprintf("highest detector score %.2f", maxScore)})

	approved, rejected, err := a.DB.DecisionCounts(ctx, in.TenantID, in.AssetID, in.Now.Add(-90*24*time.Hour))
	if err != nil {
		return incident.Validation{}, err
	}
	// Laplace-smoothed, so one early rejection does not silence an asset.
	fp := float64(rejected) / float64(approved+rejected+2)
	v := incident.Validation{Rules: rules, FalsePositiveRate: fp}
	var sum, weights float64
	for _, r := range rules {
		sum += r.Score * r.Weight
		weights += r.Weight
	}
	v.Confidence = sum / weights * (1 - 0.6*fp)
	v.Rules = append(v.Rules, incident.Rule{Name: "feedback", Weight: 0, Score: 1 - 0.6*fp,
		Detail: fmt.Sprintf("%d rejected and %d approved incidents of this asset in 90 days discount confidence by %.0f%%", rejected, approved, 60*fp)})
	return v, nil
}

// RecordInput is an incident's projection and its new log entries.
type RecordInput struct {
	Incident incident.Projection
	Log      []store.LogEntry
}

// Record writes the incident projection and log entries. Idempotent: the
// projection only moves forward by Seq and each entry is written once. A
// write refused by a constraint (another open incident of the asset) fails
// at once with a non-retryable error of type ErrTypeConflict.
func (a *Incidents) Record(ctx context.Context, in RecordInput) error {
	return permanent(a.DB.RecordIncident(ctx, in.Incident, in.Log))
}
