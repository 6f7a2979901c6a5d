package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/forecast"
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
	Count     int             `json:"count"`
	Severity  detect.Severity `json:"severity"`
	MaxScore  float64         `json:"max_score"`
	LastValue float64         `json:"last_value"`
	LastTS    time.Time       `json:"last_ts"`
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
	Severity  detect.Severity            `json:"severity"`
	BySensor  map[string]*SensorEvidence `json:"by_sensor"`
	// Recent keeps the latest anomalies, newest last.
	Recent []detect.Anomaly `json:"recent"`
}

// RecentKept is how many anomalies Evidence.Recent keeps.
const RecentKept = 20

// Add folds anomalies into the evidence.
func (e *Evidence) Add(as ...detect.Anomaly) {
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

	sevScore := map[detect.Severity]float64{detect.Warning: 0.3, detect.Minor: 0.5, detect.Major: 0.8, detect.Critical: 1}[e.Severity]
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

// ForecastInput is what the failure forecast looks at.
type ForecastInput struct {
	TenantID string
	AssetID  string
	Evidence Evidence
	Severity detect.Severity
	Now      time.Time
}

// Forecast estimates when the asset's worst sensor reaches its alarm limit.
type Forecast struct {
	SensorID string  `json:"sensor_id"`
	Limit    float64 `json:"limit,omitempty"`
	// TimeToLimit is the central estimate; Earliest the pessimistic bound of
	// the 90% interval. Zero with Reached means the limit is already passed.
	TimeToLimit time.Duration `json:"time_to_limit"`
	Earliest    time.Duration `json:"earliest"`
	Reached     bool          `json:"reached"`
	Method      string        `json:"method"`
	Deadline    time.Time     `json:"deadline"`
	Priority    string        `json:"priority"`
	Detail      string        `json:"detail"`
}

// forecastHorizon bounds how far ahead the forecast looks.
const forecastHorizon = 14 * 24 * time.Hour

// Forecast projects the worst sensor with a damped-trend Holt model over its
// recent readings and sets the work order's deadline and priority from the
// pessimistic crossing time. Read-only; retries are harmless.
func (a *Incidents) Forecast(ctx context.Context, in ForecastInput) (Forecast, error) {
	sensorID := in.Evidence.MostSevereSensor()
	f := Forecast{SensorID: sensorID, Method: "none"}
	s, err := a.DB.SensorOf(ctx, in.TenantID, in.AssetID, sensorID)
	if err != nil {
		return f, err
	}
	se := in.Evidence.BySensor[sensorID]
	rising := se == nil || se.Direction >= 0
	limit := s.AlarmHigh
	if !rising {
		limit = s.AlarmLow
	}
	if limit == nil && rising && s.WarnHigh != nil {
		limit = s.WarnHigh
	}
	pts, err := a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, sensorID, in.Now.Add(-6*time.Hour), 600)
	if err != nil {
		return f, err
	}
	ttl := time.Duration(-1) // unknown
	switch {
	case limit == nil:
		f.Detail = "sensor has no alarm limit in the anomalies' direction; deadline from severity"
	case len(pts) > 0 && (rising && pts[len(pts)-1].Value >= *limit || !rising && pts[len(pts)-1].Value <= *limit):
		f.Limit, f.Reached, ttl = *limit, true, 0
		f.Method = "observed"
		f.Detail = fmt.Sprintf("%s is already past its alarm limit %g", sensorID, *limit)
	case len(pts) < 8:
		f.Limit = *limit
		f.Detail = fmt.Sprintf("only %d recent readings; deadline from severity", len(pts))
	default:
		f.Limit = *limit
		step := pts[len(pts)-1].TS.Sub(pts[0].TS) / time.Duration(len(pts)-1)
		if step <= 0 {
			step = time.Second
		}
		y := make([]float64, len(pts))
		for i, p := range pts {
			y[i] = p.Value
		}
		m, err := forecast.Fit(y, forecast.Options{})
		if err != nil {
			f.Detail = "forecast model did not fit: " + err.Error()
			break
		}
		horizon := int(min(forecastHorizon/step, 20000))
		c := m.TimeToThreshold(*limit, rising, horizon, 0.9)
		f.Method = "damped-holt"
		if c.Earliest == 0 {
			f.Detail = fmt.Sprintf("%s not forecast to reach %g within %s", sensorID, *limit, time.Duration(horizon)*step)
			break
		}
		f.Earliest = time.Duration(c.Earliest) * step
		f.TimeToLimit = time.Duration(max(c.Steps, c.Earliest)) * step
		ttl = f.Earliest
		f.Detail = fmt.Sprintf("%s forecast to reach %g in %s (90%% interval from %s)", sensorID, *limit, f.TimeToLimit.Round(time.Minute), f.Earliest.Round(time.Minute))
	}
	f.Priority, f.Deadline = deadline(in.Severity, ttl, in.Now)
	return f, nil
}

// deadline turns severity and a pessimistic time to the limit (negative:
// unknown) into a priority and a deadline: act before the limit is reached,
// keeping a fifth of the time as margin, and never later than the
// severity's own response time.
func deadline(sev detect.Severity, ttl time.Duration, now time.Time) (string, time.Time) {
	response := map[detect.Severity]time.Duration{
		detect.Critical: 4 * time.Hour, detect.Major: 24 * time.Hour, detect.Minor: 72 * time.Hour, detect.Warning: 7 * 24 * time.Hour,
	}[sev]
	if response == 0 {
		response = 7 * 24 * time.Hour
	}
	lead := response
	if ttl >= 0 {
		lead = min(response, max(ttl*4/5, time.Hour))
	}
	priority := "low"
	switch {
	case lead <= 8*time.Hour:
		priority = "critical"
	case lead <= 48*time.Hour:
		priority = "high"
	case lead <= 5*24*time.Hour:
		priority = "medium"
	}
	return priority, now.Add(lead)
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
// projection only moves forward by Seq and each entry is written once.
func (a *Incidents) Record(ctx context.Context, in RecordInput) error {
	r := in.Incident
	if r.Summary == nil {
		r.Summary = json.RawMessage(`{}`)
	}
	return a.DB.RecordIncident(ctx, store.Incident{
		TenantID: r.TenantID, ID: r.ID, AssetID: r.AssetID, WorkflowID: r.WorkflowID, Status: r.Status, Resolution: r.Resolution,
		Severity: r.Severity, Active: r.Active, Acknowledged: r.Acknowledged, Assignee: r.Assignee, Confidence: r.Confidence,
		Anomalies: r.Anomalies, WorkOrderID: r.WorkOrderID, Summary: r.Summary, Seq: r.Seq, OpenedAt: r.OpenedAt,
		UpdatedAt: r.UpdatedAt, ClosedAt: r.ClosedAt,
	}, in.Log)
}
