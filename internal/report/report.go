// Package report computes smartmaint's maintenance reports: KPIs per tenant
// and asset over a time window (incidents by state, false-positive rate,
// MTBF, MTTR, late work orders, anomalies, sensor statistics, model metrics
// over time), writes them as JSON or CSV, renders charts with gonum/plot as
// PNG and SVG, and keeps reports and charts in PostgreSQL.
//
// Every KPI's exact definition is in docs/REPORTS.md; the field comments
// here repeat the short form. Reports are snapshots: a KPI reflects what the
// database held when the report was computed (ComputedAt), so a report on a
// recent window may differ from one computed later, after its incidents
// moved on.
package report

import (
	"errors"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/internal/incident"
)

// MaxWindow bounds the window of one report.
const MaxWindow = 366 * 24 * time.Hour

// Window is the half-open interval [From, To) a report covers.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.To.Sub(w.From) }

// Validate reports a window that is empty, reversed or longer than
// MaxWindow.
func (w Window) Validate() error {
	switch {
	case w.From.IsZero() || w.To.IsZero():
		return errors.New("the window needs both from and to")
	case !w.To.After(w.From):
		return fmt.Errorf("the window must end after it starts (from %s, to %s)", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339))
	case w.Duration() > MaxWindow:
		return fmt.Errorf("the window is %s long; at most %s", w.Duration(), MaxWindow)
	}
	return nil
}

// Query says what a report covers.
type Query struct {
	Window
	// Assets restricts the report to these asset ids; empty means every
	// asset of the tenant.
	Assets []string
}

// Report is the KPI document of one tenant and window.
type Report struct {
	TenantID string `json:"tenant_id"`
	Window
	// AssetFilter is the requested asset restriction (empty: all assets).
	AssetFilter []string  `json:"asset_filter"`
	ComputedAt  time.Time `json:"computed_at"`
	// Totals are the KPIs over every reported asset.
	Totals KPIs `json:"totals"`
	// Assets are the KPIs of each asset that existed before the window's
	// end, by id.
	Assets []AssetReport `json:"assets"`
	// IncidentsByWeek counts the incidents opened in each week of the
	// window (weeks start at From) by state.
	IncidentsByWeek []WeekIncidents `json:"incidents_by_week"`
	// Models are the tenant's models with their versions' metrics over
	// time and their alias history, up to the window's end.
	Models []ModelHistory `json:"models"`
}

// AssetReport is one asset's part of a report.
type AssetReport struct {
	AssetID   string        `json:"asset_id"`
	Type      string        `json:"type"`
	Name      string        `json:"name"`
	CreatedAt time.Time     `json:"created_at"`
	KPIs      KPIs          `json:"kpis"`
	Sensors   []SensorStats `json:"sensors"`
}

// KPIs are the key figures of an asset, or of all reported assets.
type KPIs struct {
	Incidents IncidentCounts `json:"incidents"`
	// FalsePositiveRate is (false positives + rejected) / decided incidents;
	// null when none was decided.
	FalsePositiveRate *float64 `json:"false_positive_rate"`
	// OperatingHours is the time in the window since the asset was
	// created, less DowntimeHours: when any of its work orders was in
	// progress (overlaps counted once).
	OperatingHours float64 `json:"operating_hours"`
	DowntimeHours  float64 `json:"downtime_hours"`
	// Failures are incidents opened in the window and resolved with a work
	// order.
	Failures int `json:"failures"`
	// MTBFHours is OperatingHours / Failures; null without failures.
	MTBFHours *float64 `json:"mtbf_hours"`
	// Repairs are the corrective (not preventive) work orders completed in
	// the window; MTTRHours is their mean completed_at − started_at.
	Repairs   int      `json:"repairs"`
	MTTRHours *float64 `json:"mttr_hours"`
	// Restores are the incident work orders completed in the window;
	// MeanTimeToRestoreHours is their mean completed_at − the incident's
	// opened_at.
	Restores               int      `json:"restores"`
	MeanTimeToRestoreHours *float64 `json:"mean_time_to_restore_hours"`
	// PMCompliance is WorkOrders.PreventiveOnTime / PreventiveDue: the
	// share of preventive work due in the window that was done by its
	// deadline; null when none was due.
	PMCompliance *float64        `json:"pm_compliance"`
	WorkOrders   WorkOrderCounts `json:"work_orders"`
	// Anomalies counts the anomalies detected in the window by severity.
	Anomalies map[string]int `json:"anomalies"`
}

// IncidentCounts describe the incidents opened in the window, in the state
// they had when the report was computed.
type IncidentCounts struct {
	Opened int `json:"opened"`
	// Open are those not closed yet.
	Open int `json:"open"`
	// Decided = Approved + FalsePositives: those validation or a person
	// decided on (closed below the policy's minimum severity and still
	// undecided ones do not count).
	Decided  int `json:"decided"`
	Approved int `json:"approved"`
	// FalsePositives are those closed as false_positive (by validation) or
	// rejected (by a person or the timeout policy).
	FalsePositives int            `json:"false_positives"`
	ByStatus       map[string]int `json:"by_status"`
	// ByResolution counts the closed ones by resolution.
	ByResolution map[string]int `json:"by_resolution"`
}

// WorkOrderCounts describe an asset's work orders in the window.
type WorkOrderCounts struct {
	Created   int `json:"created"`
	Done      int `json:"done"`
	Cancelled int `json:"cancelled"`
	// DoneLate were completed in the window after their deadline.
	DoneLate int `json:"done_late"`
	// OpenOverdue were still open at the window's end although their
	// deadline had passed.
	OpenOverdue int `json:"open_overdue"`
	// Late = DoneLate + OpenOverdue.
	Late int `json:"late"`
	// PlannedLate were created in the window with a slot ending after
	// their deadline (the planner could not meet it).
	PlannedLate int `json:"planned_late"`
	// PreventiveDue are the work orders raised by preventive schedules with
	// their deadline in the window; PreventiveOnTime those of them
	// completed by their deadline.
	PreventiveDue    int `json:"preventive_due"`
	PreventiveOnTime int `json:"preventive_on_time"`
}

// SensorStats summarise a sensor's readings in the window from the hourly
// rollup (the buckets starting in [From truncated to the hour, To)).
type SensorStats struct {
	SensorID string   `json:"sensor_id"`
	Unit     string   `json:"unit"`
	Count    int64    `json:"count"`
	Mean     *float64 `json:"mean"`
	Min      *float64 `json:"min"`
	Max      *float64 `json:"max"`
}

// WeekIncidents counts the incidents opened in one week by state: their
// resolution when closed, StateOpen otherwise.
type WeekIncidents struct {
	Start  time.Time      `json:"start"`
	Counts map[string]int `json:"counts"`
}

// StateOpen is the state of WeekIncidents' incidents still open.
const StateOpen = "open"

// IncidentStates are the states of WeekIncidents, in chart order: the
// resolutions, then StateOpen.
var IncidentStates = []string{string(incident.ResolutionResolved), string(incident.ResolutionCancelled),
	string(incident.ResolutionRejected), string(incident.ResolutionFalsePositive), string(incident.ResolutionBelowPolicy), StateOpen}

// ModelHistory is a model's versions and alias moves up to the window's
// end (at most MaxVersions and MaxAliasEvents, the newest).
type ModelHistory struct {
	Name        string         `json:"name"`
	Versions    []ModelVersion `json:"versions"`
	AliasEvents []AliasMove    `json:"alias_events"`
}

// ModelVersion is one version's metrics.
type ModelVersion struct {
	Version   int                `json:"version"`
	Kind      string             `json:"kind"`
	CreatedAt time.Time          `json:"created_at"`
	Metrics   map[string]float64 `json:"metrics"`
}

// AliasMove is one alias change; From or To is 0 when the alias was first
// set or removed.
type AliasMove struct {
	Alias  string    `json:"alias"`
	From   int       `json:"from_version"`
	To     int       `json:"to_version"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Limits on the model history of a report.
const (
	MaxVersions    = 100
	MaxAliasEvents = 100
)

// Summary is the headline of a report, small enough for workflow history
// and notifications.
type Summary struct {
	Assets            int      `json:"assets"`
	IncidentsOpened   int      `json:"incidents_opened"`
	FalsePositiveRate *float64 `json:"false_positive_rate"`
	MTBFHours         *float64 `json:"mtbf_hours"`
	MTTRHours         *float64 `json:"mttr_hours"`
	WorkOrdersLate    int      `json:"work_orders_late"`
	PMCompliance      *float64 `json:"pm_compliance"`
}

// Summary returns the report's headline.
func (r *Report) Summary() Summary {
	t := r.Totals
	return Summary{
		Assets: len(r.Assets), IncidentsOpened: t.Incidents.Opened, FalsePositiveRate: t.FalsePositiveRate,
		MTBFHours: t.MTBFHours, MTTRHours: t.MTTRHours, WorkOrdersLate: t.WorkOrders.Late, PMCompliance: t.PMCompliance,
	}
}

// Text is the summary as a few lines for a notification.
func (s Summary) Text() string {
	return fmt.Sprintf("Assets: %d\nIncidents opened: %d\nFalse-positive rate: %s\nMTBF: %s\nMTTR: %s\nLate work orders: %d\nPM compliance: %s",
		s.Assets, s.IncidentsOpened, optional(s.FalsePositiveRate, 100, "%.1f%%"), optional(s.MTBFHours, 1, "%.1f h"),
		optional(s.MTTRHours, 1, "%.1f h"), s.WorkOrdersLate, optional(s.PMCompliance, 100, "%.0f%%"))
}

func optional(v *float64, scale float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v*scale)
}
